#ifndef STREAMRNN_CSNDFILE_SHIM_H
#define STREAMRNN_CSNDFILE_SHIM_H
// libsndfile (Debian libsndfile1-dev). Only AudioFile/SndFileCalls.swift calls into it.
#include <sndfile.h>
#endif
