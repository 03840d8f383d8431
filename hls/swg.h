// ConvolutionInputGenerator1D: the sliding window over a chunk, for dense convolutions
// (window element (k, c) at k*C + c, read by an MVAU row by row) and depthwise ones
// (each group of SIMD channels with its K taps in turn, read by a VVAU with PE = SIMD; a beat
// carries TAPS consecutive taps of the group, element t*SIMD + c, for a VVAU with SIMD = TAPS).
//
// A ring of BUF = span + S frames holds the input; every cycle it may take one input beat
// (while the frame it fills is no longer needed) and emit one window beat (once all frames
// of the window are in). Cycles per chunk ~ span*C/SIMD + T_OUT*max(K/TAPS, S)*C/SIMD.
// Every position is a counter that wraps (no division or modulo on a loop-carried path).
#ifndef RUBICON_SWG_H
#define RUBICON_SWG_H
#include "common.h"

namespace rubicon {

template <unsigned C, unsigned SIMD, unsigned K, unsigned S, unsigned D, unsigned T_IN, unsigned T_OUT,
          bool DEPTHWISE, typename TE, unsigned TAPS = 1>
struct SlidingWindow1D {
    static_assert(C % SIMD == 0, "SIMD must divide the channel count");
    static_assert(K % TAPS == 0 && (DEPTHWISE || TAPS == 1), "TAPS divides K, and only depthwise windows take several");
    static constexpr unsigned FOLD = C / SIMD;
    static constexpr unsigned SPAN = (K - 1) * D + 1;
    static constexpr unsigned BUF = SPAN + S;
    static constexpr unsigned BLOCKS = K / TAPS;
    static_assert((T_OUT - 1) * S + SPAN <= T_IN, "windows must lie inside the (padded) input");
    typedef Word<TE, SIMD> word_t;

    word_t ring[BUF][FOLD];
    // input side: frames complete, the group being filled, the ring slot of the frame being filled
    counter_t<T_IN> read_frame = 0;
    counter_t<FOLD> read_group = 0;
    counter_t<BUF> read_slot = 0;
    // output side: window index, its first input frame and ring slot; the tap (block) and group being
    // emitted, and the ring slot of that tap
    counter_t<T_OUT> out_frame = 0;
    counter_t<T_IN + S> first = 0;
    counter_t<BUF> first_slot = 0, tap_slot = 0;
    counter_t<BLOCKS> block = 0;
    counter_t<FOLD> group = 0;
    unsigned chunks_done = 0;

    // A slot plus an offset below BUF, back into [0, BUF).
    static unsigned wrap(unsigned slot) { return slot >= BUF ? slot - BUF : slot; }

    template <typename In, typename Out>
    Status step(In &in, Out &out) {
#pragma HLS INLINE
#pragma HLS DEPENDENCE variable = ring inter false
#pragma HLS ARRAY_PARTITION variable = ring dim = 1 complete
        const bool want_read = read_frame < T_IN && read_frame < first + BUF;
        const bool want_write = out_frame < T_OUT && read_frame >= first + SPAN;
        const bool can_read = want_read && !in.empty();
        const bool can_write = want_write && !out.full();
        if (!can_read && !can_write) {
            if (want_write) return BLOCKED;
            return STARVED;
        }
        if (can_write) {
            Word<TE, SIMD * TAPS> w;
            for (unsigned t = 0; t < TAPS; t++) {
#pragma HLS UNROLL
                const word_t &src = ring[wrap(tap_slot + t * D)][group];
                for (unsigned c = 0; c < SIMD; c++) {
#pragma HLS UNROLL
                    w.v[t * SIMD + c] = src.v[c];
                }
            }
            out.write(w);
            advance_output();
        }
        if (can_read) {
            ring[read_slot][read_group] = in.read();
            if (++read_group == FOLD) {
                read_group = 0;
                read_frame++;
                read_slot = wrap(read_slot + 1);
            }
        }
        if (out_frame == T_OUT && read_frame == T_IN) {
            out_frame = first = first_slot = tap_slot = 0;
            read_frame = read_slot = 0;
            chunks_done++;
        }
        return FIRED;
    }

   private:
    // Dense: taps outer, groups inner. Depthwise: groups outer, tap blocks inner.
    void advance_output() {
#pragma HLS INLINE
        bool window_done = false;
        if (DEPTHWISE) {
            if (++block < BLOCKS) {
                tap_slot = wrap(tap_slot + TAPS * D);
            } else {
                block = 0;
                tap_slot = first_slot;
                if (++group == FOLD) {
                    group = 0;
                    window_done = true;
                }
            }
        } else if (++group == FOLD) {
            group = 0;
            if (++block < BLOCKS) {
                tap_slot = wrap(tap_slot + D);
            } else {
                block = 0;
                window_done = true;
            }
        }
        if (window_done) {
            out_frame++;
            first += S;
            first_slot = wrap(first_slot + S);
            tap_slot = first_slot;
        }
    }
};

}  // namespace rubicon
#endif
