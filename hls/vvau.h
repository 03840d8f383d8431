// VVAU: depthwise convolution, PE channels and SIMD kernel taps per cycle, reading the depthwise
// window stream of SlidingWindow1D (each beat: SIMD taps of PE channels, element t*PE + p);
// K/SIMD cycles per group of PE channels, (C/PE)*(K/SIMD) per frame. Then multi-thresholding.
//
// P::weights[PE][NF*KF][SIMD] (KF = K/SIMD): entry (g*KF + kf, pe, t) is W[g*PE + pe, kf*SIMD + t];
// P::thresholds[PE][NF][LEVELS], NF = C/PE, compared in THR_STYLE (common.h).
#ifndef RUBICON_VVAU_H
#define RUBICON_VVAU_H
#include "common.h"

namespace rubicon {

template <unsigned C, unsigned K, unsigned PE, unsigned SIMD, unsigned T, unsigned LEVELS, int ACT_BIAS, typename TI,
          typename TA, typename TO, typename P, unsigned THR_STYLE = THR_PARALLEL>
struct VVAU {
    static_assert(C % PE == 0, "PE must divide the channel count");
    static_assert(K % SIMD == 0, "SIMD must divide the kernel size");
    static constexpr unsigned NF = C / PE;
    static constexpr unsigned KF = K / SIMD;

    TA acc[PE];
    counter_t<KF> kf = 0;
    counter_t<NF> nf = 0;
    counter_t<T> frame = 0;
    counter_t<NF * KF> tile = 0;  // nf*KF + kf as a running counter
    unsigned chunks_done = 0;

    template <typename In, typename Out>
    Status step(In &in, Out &out) {
#pragma HLS INLINE
#pragma HLS ARRAY_PARTITION variable = acc complete
        const bool writing = kf == KF - 1;
        if (in.empty()) return STARVED;
        if (writing && out.full()) return BLOCKED;
        const Word<TI, PE * SIMD> x = in.read();
        Word<TO, PE> y;
        for (unsigned p = 0; p < PE; p++) {
#pragma HLS UNROLL
            TA sum = (kf == 0) ? TA(0) : acc[p];
            for (unsigned t = 0; t < SIMD; t++) {
#pragma HLS UNROLL
                sum += P::weights[p][tile][t] * x.v[t * PE + p];
            }
            acc[p] = sum;
            y.v[p] = ACT_BIAS + threshold<THR_STYLE, LEVELS>(sum, P::thresholds[p][nf]);
        }
        if (writing) out.write(y);
        if (tile == NF * KF - 1) {
            tile = 0;
        } else {
            tile++;
        }
        if (advance<KF, NF, T>(kf, nf, frame)) chunks_done++;
        return FIRED;
    }
};

}  // namespace rubicon
#endif
