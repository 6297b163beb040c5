/// Working memory for stepping several streams of one model together (``RecurrentModel/stepBatch(_:count:)``):
/// each entry's input, output and state, and the pointer arrays the batched products read. Allocated
/// once (``init(capacity:)``, at open); filling and stepping it do not allocate.
///
/// Not thread-safe: one per stepping thread.
public final class RecurrentBatch {
  /// Entries it holds at most.
  public let capacity: Int
  let inputs: UnsafeMutablePointer<UnsafePointer<Float>>
  let outputs: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
  /// Each entry's state storage (``RecurrentState/mutableBase()``).
  let bases: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
  /// Per entry: the state's layout (slot count, hidden size, input slot, c and scratch offsets),
  /// checked against the model before a step.
  let layouts: UnsafeMutablePointer<Int>
  /// The products' per-entry inputs and outputs.
  let us: UnsafeMutablePointer<UnsafePointer<Float>>
  let pres: UnsafeMutablePointer<UnsafeMutablePointer<Float>>

  static let layoutSize = 5

  /// Room for `capacity` (≥ 1) entries.
  public init(capacity: Int) {
    precondition(capacity >= 1, "a batch holds at least one entry")
    self.capacity = capacity
    // Pointers and Ints are trivial: entries are written before they are read.
    inputs = .allocate(capacity: capacity)
    outputs = .allocate(capacity: capacity)
    bases = .allocate(capacity: capacity)
    layouts = .allocate(capacity: capacity * Self.layoutSize)
    layouts.initialize(repeating: 0, count: capacity * Self.layoutSize)
    us = .allocate(capacity: capacity)
    pres = .allocate(capacity: capacity)
  }

  deinit {
    inputs.deallocate()
    outputs.deallocate()
    bases.deallocate()
    layouts.deallocate()
    us.deallocate()
    pres.deallocate()
  }

  /// Entry `index`: one frame `input` (`[input_size]`), the stream's `state`, and where its output
  /// (``RecurrentModel/outputSize`` floats) goes. The pointers must stay valid, and the state
  /// untouched by anything else, until the step that reads them returns. Does not allocate (unless
  /// `state` shares its storage with a copy, which is then copied once).
  public func set(
    _ index: Int, input: UnsafePointer<Float>, state: inout RecurrentState,
    output: UnsafeMutablePointer<Float>
  ) {
    precondition(index >= 0 && index < capacity, "batch entry outside the batch")
    inputs[index] = input
    outputs[index] = output
    bases[index] = state.mutableBase()
    let layout = layouts + index * Self.layoutSize
    layout[0] = state.slotCount
    layout[1] = state.hiddenSize
    layout[2] = state.inputSlotOffset
    layout[3] = state.cellOffset
    layout[4] = state.scratchOffset
  }
}

extension RecurrentModel {
  /// Advances `count` streams by one frame each, the entries `0..<count` of `batch`: every product
  /// runs once over the weights for all of them (``RecurrentKernel``'s batched panels), then each
  /// stream's gate math. Each stream's output and new state equal what ``step(_:state:output:)``
  /// gives it, bit for bit (the same sums in the same order), so batching never changes a result.
  ///
  /// Real-time safe: does not allocate, lock, throw or do I/O. The entries' states must be distinct.
  public func stepBatch(_ batch: RecurrentBatch, count: Int) {
    precondition(!isBidirectional, "bidirectional models run only through run(sequence:)")
    precondition(count >= 0 && count <= batch.capacity, "more entries than the batch holds")
    guard count > 0 else { return }
    let layout = batch.layouts
    precondition(layout[0] == layerCount && layout[1] == hiddenSize, "state of another model")
    for index in 1..<count {
      let other = batch.layouts + index * RecurrentBatch.layoutSize
      for field in 0..<RecurrentBatch.layoutSize {
        precondition(other[field] == layout[field], "state of another model")
      }
    }
    let slotCount = layout[0]
    let inputSlotOffset = layout[2]
    let cellOffset = layout[3]
    let scratchOffset = layout[4]
    let hiddenOut = hiddenOutputSize
    let bases = batch.bases
    let us = batch.us
    let pres = batch.pres
    descriptors.withUnsafeBufferPointer { descriptorBuffer in
      let d = descriptorBuffer.baseAddress!
      for index in 0..<count {
        (bases[index] + inputSlotOffset).update(from: batch.inputs[index], count: inputSize)
      }
      for layer in 0..<layerCount {
        let row = RecurrentState.hiddenRowOffset(layer, slotCount: slotCount, width: hiddenOut)
        if let offset = cells[layer].oneVectorGRU {
          // Small enough to live in L1: the fused cell kernel, two streams at a time (float32) or
          // one at a time (float16), each as `step` computes it.
          for index in 0..<count {
            let h = bases[index] + row
            us[index] = layer == 0 ? batch.inputs[index] : UnsafePointer(h + hiddenSize)
            pres[index] = h
          }
          if packed.half == nil {
            functions.gruOneVectorBatch(
              packed.base + offset, us, UnsafePointer(pres), count, hiddenSize, cells[layer].inputSize)
          } else {
            for index in 0..<count {
              stepOneVectorGRU(
                offset, x: us[index], inputSize: cells[layer].inputSize, h: pres[index], copy: nil)
            }
          }
          continue
        }
        for index in 0..<count {
          us[index] = UnsafePointer(bases[index] + row)
          pres[index] = bases[index] + scratchOffset + scratchPre
        }
        multiplyBatch(cells[layer].gates, descriptors: d, inputs: us, outputs: pres, count: count)
        for index in 0..<count {
          let s = bases[index]
          updateGates(
            cells[layer], descriptors: d, h: s + row, c: s + cellOffset + layer * hiddenSize,
            scratch: s + scratchOffset)
        }
      }
      let last = RecurrentState.hiddenRowOffset(layerCount - 1, slotCount: slotCount, width: hiddenOut)
      guard let head, let headPanels else {
        for index in 0..<count {
          batch.outputs[index].update(from: bases[index] + last, count: hiddenOut)
        }
        return
      }
      for index in 0..<count {
        let s = bases[index]
        us[index] = headInput(UnsafePointer(s + last), head: head, scratch: s + scratchOffset)
        pres[index] = s + scratchOffset + scratchPanelOutput
      }
      multiplyBatch(headPanels, descriptors: d, inputs: us, outputs: pres, count: count)
      for index in 0..<count {
        batch.outputs[index].update(from: pres[index], count: head.classCount)
      }
    }
  }

  /// The panels of `run` over each of `count` inputs, from the float32 or the float16 weights.
  @inline(__always)
  func multiplyBatch(
    _ run: PanelRun, descriptors d: UnsafePointer<Int>, inputs: UnsafePointer<UnsafePointer<Float>>,
    outputs: UnsafePointer<UnsafeMutablePointer<Float>>, count: Int
  ) {
    if let half = packed.half {
      functions.multiplyHalfBatch(half, packed.base, d + 6 * run.start, run.count, inputs, outputs, count)
    } else {
      functions.multiplyBatch(packed.base, d + 6 * run.start, run.count, inputs, outputs, count)
    }
  }
}
