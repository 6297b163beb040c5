#ifndef STREAMRNN_CKISSFFT_SHIM_H
#define STREAMRNN_CKISSFFT_SHIM_H
// kissfft, float build (Debian libkissfft-dev). Only Features/KissFFTCalls.swift calls into it.
#ifndef kiss_fft_scalar
#define kiss_fft_scalar float
#endif
#include <kiss_fft.h>
#include <kiss_fftr.h>
#endif
