// ConvolutionInputGenerator1D: the sliding window over a chunk, for dense convolutions
// (window element (k, c) at k*C + c, read by an MVAU row by row) and depthwise ones
// (each group of SIMD channels with its K taps in turn, read by a VVAU with PE = SIMD).
//
// A ring of BUF = span + S frames holds the input; every cycle it may take one input beat
// (while the frame it fills is no longer needed) and emit one window beat (once all frames
// of the window are in). Cycles per chunk ~ span*C/SIMD + T_OUT*max(K, S)*C/SIMD.
#ifndef RUBICON_SWG_H
#define RUBICON_SWG_H
#include "common.h"

namespace rubicon {

template <unsigned C, unsigned SIMD, unsigned K, unsigned S, unsigned D, unsigned T_IN, unsigned T_OUT,
          bool DEPTHWISE, typename TE>
struct SlidingWindow1D {
    static_assert(C % SIMD == 0, "SIMD must divide the channel count");
    static constexpr unsigned FOLD = C / SIMD;
    static constexpr unsigned SPAN = (K - 1) * D + 1;
    static constexpr unsigned BUF = SPAN + S;
    static constexpr unsigned long IN_BEATS = (unsigned long)T_IN * FOLD;
    static constexpr unsigned OUT_BEATS_PER_FRAME = K * FOLD;
    static_assert((T_OUT - 1) * S + SPAN <= T_IN, "windows must lie inside the (padded) input");
    typedef Word<TE, SIMD> word_t;

    word_t ring[BUF][FOLD];
    unsigned long read_beats = 0;  // input beats taken in this chunk
    unsigned out_frame = 0;        // window being emitted
    unsigned out_beat = 0;         // beat within that window
    unsigned chunks_done = 0;

    template <typename In, typename Out>
    Status step(In &in, Out &out) {
#pragma HLS INLINE
#pragma HLS DEPENDENCE variable = ring inter false
        const unsigned long first = (unsigned long)out_frame * S;  // oldest frame still needed
        const unsigned read_frame = read_beats / FOLD;
        const bool want_read = read_beats < IN_BEATS && read_frame < first + BUF;
        const bool want_write = out_frame < T_OUT && read_beats >= (first + SPAN) * FOLD;
        const bool can_read = want_read && !in.empty();
        const bool can_write = want_write && !out.full();
        if (!can_read && !can_write) {
            if (want_write) return BLOCKED;
            return STARVED;
        }
        if (can_write) {
            unsigned tap, group;
            if (DEPTHWISE) {
                group = out_beat / K;
                tap = out_beat % K;
            } else {
                tap = out_beat / FOLD;
                group = out_beat % FOLD;
            }
            out.write(ring[(first + tap * D) % BUF][group]);
            if (++out_beat == OUT_BEATS_PER_FRAME) {
                out_beat = 0;
                out_frame++;
            }
        }
        if (can_read) {
            ring[read_frame % BUF][read_beats % FOLD] = in.read();
            read_beats++;
        }
        if (out_frame == T_OUT && read_beats == IN_BEATS) {
            out_frame = 0;
            read_beats = 0;
            chunks_done++;
        }
        return FIRED;
    }
};

}  // namespace rubicon
#endif
