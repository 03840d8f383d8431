// DynamicPool: dynamic pooling (DESIGN §6) over a channels-last stream: cumulative sum of the
// moves, triangular resampling into a two-frame accumulator window, requantization by
// thresholds. Bit-exact with flow.nn.dynamic_pool.dynamic_pool_int (its docstring has the
// arithmetic); sizes, widths and shifts are template parameters, the tables are in P.
//
// Template parameters: C channels, PE lanes (PE | C), T_IN input frames and LMAX output frames per
// chunk; the DynamicPoolFormat fields LUT_BITS, A_SHIFT, B_SHIFT, WEIGHT_FRAC_BITS (Fw),
// MOVE_FRAC_BITS (F), MOVE_INT_BITS (I), PROD_SHIFT (S), ACC_BITS; LEVELS thresholds per channel
// (2^out_bits − 1); TF = ap_uint<feature_bits>, TAB = ap_int<predictor bits>, TO = ap_uint<out_bits>.
//
// Ports of step(in_f, in_ab, out, side):
//   in_f   Word<TF, PE>   features, C/PE beats per input frame (beat nf = channels nf*PE..+PE-1)
//   in_ab  Word<TAB, 2>   {a, b} predictor accumulators, one beat per input frame
//   out    Word<TO, PE>   exactly LMAX output frames of C/PE beats per chunk (zeros past the count)
//   side   side_t         one beat per chunk, {count, overflow}, written with the chunk's last beat
// side_t = Word<ap_uint<bitlen(LMAX)>, 2>: v[0] = count = min(j_{T−1} + 2, LMAX), v[1] = overflow.
// P::w_lut[1 << LUT_BITS], P::m_lut[1 << LUT_BITS]: importance and move tables;
// P::thresholds[PE][C/PE][LEVELS] (≥ 1, so empty frames give 0): entry [p][nf] is channel nf*PE + p.
// step() returns STARVED when a frame starts with the {a, b} register empty or a reading cycle has
// no feature beat, BLOCKED when an emitting cycle finds `out` full (or the chunk's last cycle
// finds `side` full), else FIRED; a cycle that only loads the {a, b} register is FIRED too.
//
// Per input frame i the position P_i = min(P_{i-1} + m_i, LMAX·2^F) gives the frame j_i and the
// fraction φ_i; d_i = j_i − j_{i−1} frames are complete (j_{−1} = 0). The kernel works in
// passes of C/PE cycles over the folds: d_i − 1 emit-only passes (frame `cur` out, window
// shifted, no input), then one pass that reads the feature beats, accumulating w·f·(2^F − φ)
// and w·f·φ into frames j_i, j_i + 1, and, if d_i ≥ 1, emits frame j_i − 1 in the same cycle
// (a fold's emission and accumulation touch the same accumulator word, so they merge).
// After the last input frame, frames j_{T−1} .. LMAX−1 are flushed (frame j, j+1, then zeros).
// Contributions to frames ≥ LMAX are dropped on the way in, so the window is zero at the end
// of every chunk and the next chunk needs no clearing.
//
// The {a, b} beat goes through the tables into a one-deep register that loads whenever it is
// empty or being consumed (the first cycle of a frame), so consecutive frames never wait for it.
//
// Cycle model (one step = one clock; inputs always available, outputs always ready), counted
// from the first input beat accepted to the last output beat, both included:
//     cycles(chunk) = 1 + (C/PE) · (LMAX + Z),   Z = #{i : j_i = j_{i−1}}
// Frame i costs (C/PE)·max(1, d_i) cycles, the flush (C/PE)·(LMAX − j_{T−1}), and Σ d_i = j_{T−1}.
// With moves below one frame (d_i ≤ 1) that is one input frame per C/PE cycles plus the flush;
// a move across k frame boundaries costs k − 1 extra passes. The 1 is the cycle that loads the
// first {a, b} into the empty register; back to back, the next chunk's first {a, b} is loaded
// during this chunk, so a chunk then costs (C/PE)·(LMAX + Z).
#ifndef RUBICON_DYNAMIC_POOL_H
#define RUBICON_DYNAMIC_POOL_H
#include "common.h"

namespace rubicon {

constexpr unsigned dp_bitlen(unsigned long x) { return x ? 1 + dp_bitlen(x >> 1) : 0; }
constexpr unsigned dp_max(unsigned a, unsigned b) { return a > b ? a : b; }

template <unsigned C, unsigned PE, unsigned T_IN, unsigned LMAX, unsigned LUT_BITS, unsigned A_SHIFT,
          unsigned B_SHIFT, unsigned WEIGHT_FRAC_BITS, unsigned MOVE_FRAC_BITS, unsigned MOVE_INT_BITS,
          unsigned PROD_SHIFT, unsigned ACC_BITS, unsigned LEVELS, typename TF, typename TAB, typename TO, typename P>
struct DynamicPool {
    static_assert(C % PE == 0, "PE must divide the channel count");
    static_assert(T_IN >= 1 && LMAX >= 1, "at least one input and one output frame per chunk");
    static_assert(LUT_BITS >= 1 && WEIGHT_FRAC_BITS >= 1 && MOVE_FRAC_BITS >= 1 && ACC_BITS >= 1, "widths ≥ 1");
    static constexpr unsigned NF = C / PE;
    static constexpr unsigned LANES = PE;
    static constexpr unsigned F = MOVE_FRAC_BITS;
    static constexpr unsigned CNT_BITS = dp_bitlen(LMAX);        // count 0..LMAX
    static constexpr unsigned POS_BITS = F + CNT_BITS;            // holds the cap LMAX·2^F
    static constexpr unsigned MOVE_BITS = F + MOVE_INT_BITS;
    static constexpr unsigned FEAT_BITS = TF::width;
    static constexpr unsigned PROD_BITS = WEIGHT_FRAC_BITS + FEAT_BITS + F + 1;  // w·f·(2^F − φ), exact
    static constexpr unsigned TERM_BITS = PROD_BITS > PROD_SHIFT ? PROD_BITS - PROD_SHIFT : 1;
    static constexpr unsigned SUM_BITS = dp_max(ACC_BITS, TERM_BITS) + 1;

    typedef ap_uint<WEIGHT_FRAC_BITS> w_t;
    typedef ap_uint<MOVE_BITS> m_t;
    typedef ap_uint<POS_BITS> pos_t;
    typedef ap_uint<CNT_BITS + 1> frame_t;  // frame indices up to LMAX + 1
    typedef ap_uint<ACC_BITS> acc_t;
    typedef Word<ap_uint<CNT_BITS>, 2> side_t;  // {count, overflow}
    typedef TF feature_t;
    typedef TAB ab_t;
    typedef TO out_t;

    // window: acc0 = frame cur, acc1 = frame cur + 1, one word per (lane, fold)
    acc_t acc0[PE][NF], acc1[PE][NF];
    // the {a, b} register, already through the tables
    bool ab_full = false;
    w_t w_next = 0;
    m_t m_next = 0;
    // the frame in progress (set in its first cycle)
    bool in_frame = false, emit_last = false, flushing = false;
    w_t w_cur = 0;
    ap_uint<F> phi_cur = 0;
    frame_t j_cur = 0, skip = 0;  // skip: emit-only passes left, the current one included
    pos_t pos = 0;
    frame_t cur = 0;              // lowest frame not yet emitted
    unsigned nf = 0, frame = 0;
    unsigned chunks_done = 0;

    DynamicPool() {
        for (unsigned p = 0; p < PE; p++)
            for (unsigned n = 0; n < NF; n++) acc0[p][n] = acc1[p][n] = 0;
    }

    // clip(acc >> shift, −2^(K−1), 2^(K−1) − 1) + 2^(K−1)
    template <unsigned SHIFT>
    static unsigned lut_index(const TAB &acc) {
#pragma HLS INLINE
        const long half = 1L << (LUT_BITS - 1);
        const long s = (long)(acc >> SHIFT);
        return (unsigned)((s < -half ? -half : s > half - 1 ? half - 1 : s) + half);
    }

    static acc_t sat_add(const acc_t &base, const ap_uint<TERM_BITS> &term) {
#pragma HLS INLINE
        const ap_uint<SUM_BITS> sum = ap_uint<SUM_BITS>(base) + ap_uint<SUM_BITS>(term);
        const acc_t top = ~acc_t(0);
        return sum > ap_uint<SUM_BITS>(top) ? top : acc_t(sum);
    }

    template <typename InF, typename InAB, typename Out, typename Side>
    Status step(InF &in_f, InAB &in_ab, Out &out, Side &side) {
#pragma HLS INLINE
#pragma HLS ARRAY_PARTITION variable = acc0 complete dim = 1
#pragma HLS ARRAY_PARTITION variable = acc1 complete dim = 1
        // The pass of this cycle: from the registers mid-frame, from the {a, b} register at a frame start.
        const bool start = !flushing && !in_frame;
        const ap_uint<POS_BITS + MOVE_BITS + 1> sum = ap_uint<POS_BITS + MOVE_BITS + 1>(pos) + m_next;
        const pos_t cap = pos_t(LMAX) << F;
        const pos_t pos_new = sum > cap ? cap : pos_t(sum);
        const frame_t j_new = pos_new >> F;
        const frame_t d_new = j_new - cur;
        const frame_t skip_e = start ? (d_new >= 2 ? frame_t(d_new - 1) : frame_t(0)) : skip;
        const bool emit_e = start ? d_new >= 1 : emit_last;
        const frame_t j_e = start ? j_new : j_cur;
        const w_t w_e = start ? w_next : w_cur;
        const ap_uint<F> phi_e = start ? ap_uint<F>(pos_new) : phi_cur;
        const bool emit_only = flushing || skip_e != 0;
        const bool reads = !emit_only;
        const bool writes = emit_only || emit_e;
        const bool last_fold = nf == NF - 1;
        const bool chunk_end = last_fold && (flushing ? cur == LMAX - 1 : (reads && frame == T_IN - 1 && j_e == LMAX));

        Status main = FIRED;
        if ((start && !ab_full) || (reads && in_f.empty())) main = STARVED;
        else if ((writes && out.full()) || (chunk_end && side.full())) main = BLOCKED;
        const bool consume = main == FIRED && start;
        const bool load = (!ab_full || consume) && !in_ab.empty();

        if (main == FIRED) {
            Word<TF, PE> x;
            if (reads) x = in_f.read();
            Word<TO, PE> y;
            const ap_uint<TERM_BITS> zero = 0;
            for (unsigned p = 0; p < PE; p++) {
#pragma HLS UNROLL
                const acc_t a0 = acc0[p][nf], a1 = acc1[p][nf];
                y.v[p] = TO(threshold_count<LEVELS>(a0, P::thresholds[p][nf]));
                if (emit_only) {
                    acc0[p][nf] = a1;
                    acc1[p][nf] = 0;
                } else {
                    const ap_uint<WEIGHT_FRAC_BITS + FEAT_BITS> wf = w_e * x.v[p];
                    const ap_uint<PROD_BITS> p0 = wf * ((ap_uint<F + 1>(1) << F) - phi_e);
                    const ap_uint<PROD_BITS> p1 = wf * phi_e;
                    // frames at or past LMAX are dropped (the overflow), which also leaves the window zero
                    const ap_uint<TERM_BITS> t0 = j_e < LMAX ? ap_uint<TERM_BITS>(p0 >> PROD_SHIFT) : zero;
                    const ap_uint<TERM_BITS> t1 = j_e + 1 < LMAX ? ap_uint<TERM_BITS>(p1 >> PROD_SHIFT) : zero;
                    acc0[p][nf] = sat_add(emit_e ? a1 : a0, t0);
                    acc1[p][nf] = sat_add(emit_e ? acc_t(0) : a1, t1);
                }
            }
            if (writes) out.write(y);
            if (chunk_end) {
                side_t s;
                s.v[0] = j_e + 2 > LMAX ? frame_t(LMAX) : frame_t(j_e + 2);  // mid-flush j_e = j_cur = j_{T−1}
                s.v[1] = j_e + 2 > LMAX ? 1 : 0;
                side.write(s);
            }
            if (start) {
                in_frame = true;
                pos = pos_new;
                w_cur = w_e;
                phi_cur = phi_e;
                j_cur = j_e;
                skip = skip_e;
                emit_last = emit_e;
            }
            if (last_fold) {
                nf = 0;
                if (emit_only) {
                    cur++;
                    if (!flushing) skip = skip_e - 1;
                } else {
                    cur = j_e;
                    in_frame = false;
                    if (++frame == T_IN) {
                        frame = 0;
                        flushing = true;
                    }
                }
                if (chunk_end) {
                    flushing = false;
                    cur = 0;
                    pos = 0;
                    chunks_done++;
                }
            } else {
                nf++;
            }
        }
        if (load) {
            const Word<TAB, 2> ab = in_ab.read();
            w_next = P::w_lut[lut_index<A_SHIFT>(ab.v[0])];
            m_next = P::m_lut[lut_index<B_SHIFT>(ab.v[1])];
            ab_full = true;
        } else if (consume) {
            ab_full = false;
        }
        return (main == FIRED || load) ? FIRED : main;
    }
};

}  // namespace rubicon
#endif
