// MVAU: matrix-vector product of each frame with W[MW, MH], then multi-thresholding (or the
// raw accumulators for the CTC head, NO_ACT). FINN folding: PE output channels and SIMD
// input elements per cycle, so a frame takes (MH/PE)*(MW/SIMD) cycles. The input beats of a
// frame are kept during the first output fold and reused for the others.
//
// P supplies the constants: P::weights[PE][NF*SF][SIMD] (TW) and P::thresholds[PE][NF][LEVELS]
// (TA) where NF = MH/PE, SF = MW/SIMD; weight (nf*SF + sf, pe, s) is W[sf*SIMD + s, nf*PE + pe].
#ifndef RUBICON_MVAU_H
#define RUBICON_MVAU_H
#include "common.h"

namespace rubicon {

template <unsigned MW, unsigned MH, unsigned SIMD, unsigned PE, unsigned T, bool NO_ACT, unsigned LEVELS,
          int ACT_BIAS, typename TI, typename TW, typename TA, typename TO, typename P>
struct MVAU {
    static_assert(MW % SIMD == 0 && MH % PE == 0, "SIMD must divide MW and PE must divide MH");
    static constexpr unsigned SF = MW / SIMD;
    static constexpr unsigned NF = MH / PE;

    Word<TI, SIMD> inbuf[SF];
    TA acc[PE];
    unsigned sf = 0, nf = 0, frame = 0;
    unsigned chunks_done = 0;

    template <typename In, typename Out>
    Status step(In &in, Out &out) {
#pragma HLS INLINE
#pragma HLS ARRAY_PARTITION variable = acc complete
        const bool reading = nf == 0;
        const bool writing = sf == SF - 1;
        if (reading && in.empty()) return STARVED;
        if (writing && out.full()) return BLOCKED;
        Word<TI, SIMD> x;
        if (reading) {
            x = in.read();
            inbuf[sf] = x;
        } else {
            x = inbuf[sf];
        }
        Word<TO, PE> y;
        for (unsigned p = 0; p < PE; p++) {
#pragma HLS UNROLL
            TA sum = (sf == 0) ? TA(0) : acc[p];
            for (unsigned s = 0; s < SIMD; s++) {
#pragma HLS UNROLL
                sum += P::weights[p][nf * SF + sf][s] * x.v[s];
            }
            acc[p] = sum;
            if (NO_ACT) {
                y.v[p] = sum;
            } else {
                y.v[p] = ACT_BIAS + threshold_count<LEVELS>(sum, P::thresholds[p][nf]);
            }
        }
        if (writing) out.write(y);
        if (advance<SF, NF, T>(sf, nf, frame)) chunks_done++;
        return FIRED;
    }
};

}  // namespace rubicon
#endif
