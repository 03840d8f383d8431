// MVAU: matrix-vector product of each frame with W[MW, MH], then multi-thresholding (or the
// raw accumulators for the CTC head, NO_ACT). FINN folding: PE output channels and SIMD
// input elements per cycle, so a frame takes (MH/PE)*(MW/SIMD) cycles. The input beats of a
// frame are kept during the first output fold and reused for the others.
//
// P supplies the constants, with NF = MH/PE, SF = MW/SIMD and tile nf*SF + sf: the weights in the
// layout of the multiplier style MUL (below; weight (tile, pe, s) is W[sf*SIMD + s, nf*PE + pe]) and
// P::thresholds[PE][NF][LEVELS], compared in THR_STYLE (common.h).
#ifndef RUBICON_MVAU_H
#define RUBICON_MVAU_H
#include "common.h"

namespace rubicon {

// Multiplier styles (the node attribute resType): how one cycle's PE x SIMD products are formed.
// LUT multipliers read P::weights[PE][tiles][SIMD].
template <typename P>
struct LutMultipliers {
    template <unsigned PE, unsigned SIMD, typename TA, typename TI>
    static void dot(unsigned tile, const Word<TI, SIMD> &x, TA (&out)[PE]) {
#pragma HLS INLINE
        for (unsigned p = 0; p < PE; p++) {
#pragma HLS UNROLL
            TA sum = 0;
            for (unsigned s = 0; s < SIMD; s++) {
#pragma HLS UNROLL
                sum += P::weights[p][tile][s] * x.v[s];
            }
            out[p] = sum;
        }
    }
};

// DSP multipliers with packing: P::wpacked[ceil(PE/LANES)][tiles][SIMD] holds the weights of LANES
// neighbouring PEs packed G bits apart. Per packed word, a chain of SIMD DSPs multiplies each input
// element and adds the products along the cascade (no fabric adder tree); the chain's sum holds the
// LANES dot products G bits apart, read out once (common.h packed_lane). G leaves room for the sum
// of SIMD products (flow.ir.ops.compute.dsp_packing). LANES = 1 is one product per DSP.
template <typename P, unsigned LANES, unsigned G>
struct PackedDspMultipliers {
    static_assert(LANES >= 1 && G >= 2 && LANES * G <= 62, "packed lanes must fit the 64-bit product model");
    template <unsigned PE, unsigned SIMD, typename TA, typename TI>
    static void dot(unsigned tile, const Word<TI, SIMD> &x, TA (&out)[PE]) {
#pragma HLS INLINE
        constexpr unsigned GROUPS = (PE + LANES - 1) / LANES;
        for (unsigned g = 0; g < GROUPS; g++) {
#pragma HLS UNROLL
            long long chain = 0;
            for (unsigned s = 0; s < SIMD; s++) {
#pragma HLS UNROLL
                const long long product = (long long)P::wpacked[g][tile][s] * (long long)x.v[s];
#pragma HLS BIND_OP variable = product op = mul impl = dsp
                chain += product;
            }
            for (unsigned i = 0; i < LANES; i++) {
#pragma HLS UNROLL
                if (g * LANES + i < PE) out[g * LANES + i] = TA(packed_lane<G>(chain, i));
            }
        }
    }
};

template <unsigned MW, unsigned MH, unsigned SIMD, unsigned PE, unsigned T, bool NO_ACT, unsigned LEVELS,
          int ACT_BIAS, typename TI, typename TA, typename TO, typename P, typename MUL = LutMultipliers<P>,
          unsigned THR_STYLE = THR_PARALLEL>
struct MVAU {
    static_assert(MW % SIMD == 0 && MH % PE == 0, "SIMD must divide MW and PE must divide MH");
    static constexpr unsigned SF = MW / SIMD;
    static constexpr unsigned NF = MH / PE;

    Word<TI, SIMD> inbuf[SF];
    TA acc[PE];
    counter_t<SF> sf = 0;
    counter_t<NF> nf = 0;
    counter_t<T> frame = 0;
    counter_t<NF * SF> tile = 0;  // nf*SF + sf as a running counter: no multiply on the loop-carried path
    unsigned chunks_done = 0;

    template <typename In, typename Out>
    Status step(In &in, Out &out) {
#pragma HLS INLINE
#pragma HLS ARRAY_PARTITION variable = acc complete
#pragma HLS AGGREGATE variable = inbuf
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
        TA dot[PE];
#pragma HLS ARRAY_PARTITION variable = dot complete
        MUL::template dot<PE, SIMD>(tile, x, dot);
        Word<TO, PE> y;
        for (unsigned p = 0; p < PE; p++) {
#pragma HLS UNROLL
            const TA sum = ((sf == 0) ? TA(0) : acc[p]) + dot[p];
            acc[p] = sum;
            if (NO_ACT) {
                y.v[p] = sum;
            } else {
                y.v[p] = ACT_BIAS + threshold<THR_STYLE, LEVELS>(sum, P::thresholds[p][nf]);
            }
        }
        if (writing) out.write(y);
        if (tile == NF * SF - 1) {
            tile = 0;
        } else {
            tile++;
        }
        if (advance<SF, NF, T>(sf, nf, frame)) chunks_done++;
        return FIRED;
    }
};

}  // namespace rubicon
#endif
