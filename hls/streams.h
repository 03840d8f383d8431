// Stream plumbing kernels: stand-alone thresholds, residual fork and join, and the data-width
// converter that regroups beats where two folded nodes disagree on the beat width.
#ifndef RUBICON_STREAMS_H
#define RUBICON_STREAMS_H
#include "common.h"

namespace rubicon {

// Thresholding: PE channels per cycle; P::thresholds[PE][C/PE][LEVELS], compared in THR_STYLE.
template <unsigned C, unsigned PE, unsigned T, unsigned LEVELS, int ACT_BIAS, typename TI, typename TO, typename P,
          unsigned THR_STYLE = THR_PARALLEL>
struct Thresholding {
    static_assert(C % PE == 0, "PE must divide the channel count");
    static constexpr unsigned NF = C / PE;
    counter_t<NF> nf = 0;
    counter_t<T> frame = 0;
    unsigned chunks_done = 0;

    template <typename In, typename Out>
    Status step(In &in, Out &out) {
#pragma HLS INLINE
        if (in.empty()) return STARVED;
        if (out.full()) return BLOCKED;
        const Word<TI, PE> x = in.read();
        Word<TO, PE> y;
        for (unsigned p = 0; p < PE; p++) {
#pragma HLS UNROLL
            y.v[p] = ACT_BIAS + threshold<THR_STYLE, LEVELS>(x.v[p], P::thresholds[p][nf]);
        }
        out.write(y);
        if (advance<NF, T>(nf, frame)) chunks_done++;
        return FIRED;
    }
};

// DuplicateStreams: every beat to both outputs in the same cycle.
template <unsigned C, unsigned PE, unsigned T, typename TE>
struct DuplicateStreams {
    ChunkBeats<(unsigned long)T * (C / PE)> beats;
    unsigned chunks_done = 0;

    template <typename In, typename Out0, typename Out1>
    Status step(In &in, Out0 &out0, Out1 &out1) {
#pragma HLS INLINE
        if (in.empty()) return STARVED;
        if (out0.full() || out1.full()) return BLOCKED;
        const Word<TE, PE> x = in.read();
        out0.write(x);
        out1.write(x);
        if (beats.next()) chunks_done++;
        return FIRED;
    }
};

// AddStreams: elementwise sum of two beats.
template <unsigned C, unsigned PE, unsigned T, typename TA, typename TB, typename TO>
struct AddStreams {
    ChunkBeats<(unsigned long)T * (C / PE)> beats;
    unsigned chunks_done = 0;

    template <typename InA, typename InB, typename Out>
    Status step(InA &a, InB &b, Out &out) {
#pragma HLS INLINE
        if (a.empty() || b.empty()) return STARVED;
        if (out.full()) return BLOCKED;
        const Word<TA, PE> x = a.read();
        const Word<TB, PE> y = b.read();
        Word<TO, PE> z;
        for (unsigned p = 0; p < PE; p++) {
#pragma HLS UNROLL
            z.v[p] = TO(x.v[p]) + TO(y.v[p]);
        }
        out.write(z);
        if (beats.next()) chunks_done++;
        return FIRED;
    }
};

// Data-width converter: beats of IN_W elements to beats of OUT_W. Both divide the frame size,
// so a beat never spans two frames. Per cycle it may emit one beat and take one beat.
template <unsigned C, unsigned IN_W, unsigned OUT_W, unsigned T, typename TE>
struct DataWidthConverter {
    static_assert(C % IN_W == 0 && C % OUT_W == 0, "both widths must divide the channel count");
    static constexpr unsigned CAP = IN_W + OUT_W;
    static constexpr unsigned long OUT_BEATS = (unsigned long)T * (C / OUT_W);
    TE buf[CAP];
    counter_t<CAP> count = 0;
    ChunkBeats<OUT_BEATS> emitted;
    unsigned chunks_done = 0;

    template <typename In, typename Out>
    Status step(In &in, Out &out) {
#pragma HLS INLINE
#pragma HLS ARRAY_PARTITION variable = buf complete
        const bool want_write = count >= OUT_W;
        const bool can_write = want_write && !out.full();
        const unsigned after = can_write ? count - OUT_W : count;
        const bool can_read = after + IN_W <= CAP && !in.empty();
        if (!can_read && !can_write) return want_write ? BLOCKED : STARVED;
        if (can_write) {
            Word<TE, OUT_W> y;
            for (unsigned i = 0; i < OUT_W; i++) {
#pragma HLS UNROLL
                y.v[i] = buf[i];
            }
            for (unsigned i = 0; i + OUT_W < CAP; i++) {
#pragma HLS UNROLL
                buf[i] = buf[i + OUT_W];
            }
            out.write(y);
            if (emitted.next()) chunks_done++;
        }
        if (can_read) {
            const Word<TE, IN_W> x = in.read();
            for (unsigned i = 0; i < IN_W; i++) {
#pragma HLS UNROLL
                buf[after + i] = x.v[i];
            }
        }
        count = after + (can_read ? IN_W : 0);
        return FIRED;
    }
};

}  // namespace rubicon
#endif
