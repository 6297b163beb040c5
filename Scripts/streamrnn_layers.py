"""Two small PyTorch modules for what trained audio models usually do in their data pipeline but a
stream must do in the model: frame stacking (a context window) and frame subsampling. Put them in
the module you train and export_graph.py maps them to StreamRNN's `frame_stack` and `subsample`
layers; in PyTorch they compute exactly what those layers compute on a whole sequence.

    from streamrnn_layers import FrameStack, Subsample
    model = nn.Sequential(FrameStack(3), nn.Linear(3 * 40, 64), ...)
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class FrameStack(nn.Module):
    """[T, F] → [T, frames·F]: row t is frames t−frames+1 … t concatenated, oldest first, with
    zeros before the start of the sequence (causal: no lookahead)."""

    def __init__(self, frames):
        super().__init__()
        if frames < 1:
            raise ValueError("FrameStack needs frames >= 1")
        self.frames = frames

    def forward(self, x):
        count = x.shape[0]
        padded = F.pad(x, (0, 0, self.frames - 1, 0))
        return torch.cat([padded[i:i + count] for i in range(self.frames)], dim=1)


class Subsample(nn.Module):
    """[T, F] → [ceil(T / every), F]: rows 0, every, 2·every, … (the output rate is 1/every)."""

    def __init__(self, every):
        super().__init__()
        if every < 1:
            raise ValueError("Subsample needs every >= 1")
        self.every = every

    def forward(self, x):
        return x[::self.every]
