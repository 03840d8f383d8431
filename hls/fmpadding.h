// FMPadding1D: zero frames before and after the chunk, SIMD channels per beat.
// Cycles per chunk: (PAD_L + T + PAD_R) * C / SIMD, one output beat per cycle.
#ifndef RUBICON_FMPADDING_H
#define RUBICON_FMPADDING_H
#include "common.h"

namespace rubicon {

template <unsigned C, unsigned SIMD, unsigned T, unsigned PAD_L, unsigned PAD_R, typename TE>
struct FMPadding1D {
    static_assert(C % SIMD == 0, "SIMD must divide the channel count");
    static constexpr unsigned FOLD = C / SIMD;
    typedef Word<TE, SIMD> word_t;

    counter_t<PAD_L + T + PAD_R> frame = 0;  // nested counters: no division on the loop-carried path
    counter_t<FOLD> group = 0;
    unsigned chunks_done = 0;

    template <typename In, typename Out>
    Status step(In &in, Out &out) {
#pragma HLS INLINE
        const bool inside = frame >= PAD_L && frame < PAD_L + T;
        if (inside && in.empty()) return STARVED;
        if (out.full()) return BLOCKED;
        word_t w;
        if (inside) {
            w = in.read();
        } else {
            for (unsigned s = 0; s < SIMD; s++) {
#pragma HLS UNROLL
                w.v[s] = 0;
            }
        }
        out.write(w);
        if (advance<FOLD, PAD_L + T + PAD_R>(group, frame)) chunks_done++;
        return FIRED;
    }
};

}  // namespace rubicon
#endif
