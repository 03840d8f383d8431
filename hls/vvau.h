// VVAU: depthwise convolution, PE channels per cycle, one kernel tap per cycle (SIMD = 1),
// reading the depthwise window stream of SlidingWindow1D; K cycles per group of PE channels,
// (C/PE)*K per frame. Then multi-thresholding.
//
// P::weights[PE][NF*K] (TW): entry (g*K + k, pe) is W[g*PE + pe, k];
// P::thresholds[PE][NF][LEVELS] (TA), NF = C/PE.
#ifndef RUBICON_VVAU_H
#define RUBICON_VVAU_H
#include "common.h"

namespace rubicon {

template <unsigned C, unsigned K, unsigned PE, unsigned T, unsigned LEVELS, int ACT_BIAS, typename TI, typename TW,
          typename TA, typename TO, typename P>
struct VVAU {
    static_assert(C % PE == 0, "PE must divide the channel count");
    static constexpr unsigned NF = C / PE;

    TA acc[PE];
    unsigned k = 0, nf = 0, frame = 0;
    unsigned chunks_done = 0;

    template <typename In, typename Out>
    Status step(In &in, Out &out) {
#pragma HLS INLINE
#pragma HLS ARRAY_PARTITION variable = acc complete
        const bool writing = k == K - 1;
        if (in.empty()) return STARVED;
        if (writing && out.full()) return BLOCKED;
        const Word<TI, PE> x = in.read();
        Word<TO, PE> y;
        for (unsigned p = 0; p < PE; p++) {
#pragma HLS UNROLL
            const TA sum = ((k == 0) ? TA(0) : acc[p]) + P::weights[p][nf * K + k] * x.v[p];
            acc[p] = sum;
            y.v[p] = ACT_BIAS + threshold_count<LEVELS>(sum, P::thresholds[p][nf]);
        }
        if (writing) out.write(y);
        if (advance<K, NF, T>(k, nf, frame)) chunks_done++;
        return FIRED;
    }
};

}  // namespace rubicon
#endif
