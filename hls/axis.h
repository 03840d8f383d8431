// AXI-Stream edges of the accelerator: the DMA's beats in, integer logits out.
//
// In: BEAT_BITS-wide beats, each carrying BEAT_BITS/EB input samples of EB bits (little end
// first), regrouped into the first node's words of W samples. Out: one 32-bit beat per head
// accumulator (sign-extended), TLAST on the last beat of each chunk, so the DMA ends one
// transfer per chunk and the driver reads int32.
#ifndef RUBICON_AXIS_H
#define RUBICON_AXIS_H
#include "common.h"

#if __has_include(<ap_axi_sdata.h>)
#include <ap_axi_sdata.h>
namespace rubicon {
template <int W>
using axis_t = hls::axis<ap_uint<W>, 0, 0, 0>;
}
#else
namespace rubicon {
// The fields of Vitis' hls::axis that the design uses, for C-simulation without Vitis.
template <int W>
struct axis_t {
    ap_uint<W> data;
    ap_uint<(W + 7) / 8> keep;
    ap_uint<1> last;
};
}  // namespace rubicon
#endif

namespace rubicon {

template <unsigned BEAT_BITS, unsigned EB, unsigned W, unsigned long SAMPLES, typename TE>
struct InputAdapter {
    static constexpr unsigned PER_BEAT = BEAT_BITS / EB;
    static_assert(PER_BEAT % W == 0, "the first node's beat width must divide the samples per AXI beat");
    static_assert(SAMPLES % PER_BEAT == 0, "the chunk length must fill whole AXI beats");
    static constexpr unsigned long WORDS = SAMPLES / W;
    ap_uint<BEAT_BITS> beat;
    unsigned offset = 0;  // next sample within the held beat; 0 = need a new beat
    unsigned long words = 0;
    unsigned chunks_done = 0;

    template <typename In, typename Out>
    Status step(In &in, Out &out) {
#pragma HLS INLINE
        if (offset == 0 && in.empty()) return STARVED;
        if (out.full()) return BLOCKED;
        ap_uint<BEAT_BITS> data = beat;
        if (offset == 0) data = in.read().data;
        Word<TE, W> w;
        for (unsigned i = 0; i < W; i++) {
#pragma HLS UNROLL
            w.v[i] = (TE)data.range((offset + i) * EB + EB - 1, (offset + i) * EB);  // two's complement
        }
        out.write(w);
        beat = data;
        offset = (offset + W) % PER_BEAT;
        if (++words == WORDS) {
            words = 0;
            offset = 0;
            chunks_done++;
        }
        return FIRED;
    }
};

// Head words → one sign-extended int32 per AXI beat, TLAST on the chunk's last beat. With
// dynamic pooling (the three-stream step) the chunk ends with one trailer beat from the pool's
// side stream: bits 30..0 the valid frame count, bit 31 the overflow flag; TLAST moves to it.
template <unsigned W, unsigned long WORDS, typename TE>
struct OutputAdapter {
    Word<TE, W> held;
    unsigned lane = 0;  // next element of the held word; 0 = need a new word
    unsigned long words = 0;
    bool trailer_due = false;
    unsigned chunks_done = 0;

    template <typename In, typename Out>
    Status step(In &in, Out &out) {
#pragma HLS INLINE
        return logits(in, out, true);
    }

    template <typename In, typename Side, typename Out>
    Status step(In &in, Side &side, Out &out) {
#pragma HLS INLINE
        if (!trailer_due) return logits(in, out, false);
        if (side.empty()) return STARVED;
        if (out.full()) return BLOCKED;
        const auto s = side.read();
        axis_t<32> o;
        o.data = ap_uint<32>(s.v[0]) | (ap_uint<32>(s.v[1] != 0) << 31);
        o.keep = -1;
        o.last = 1;
        out.write(o);
        trailer_due = false;
        chunks_done++;
        return FIRED;
    }

  private:
    template <typename In, typename Out>
    Status logits(In &in, Out &out, bool chunk_ends_here) {
#pragma HLS INLINE
        if (lane == 0 && in.empty()) return STARVED;
        if (out.full()) return BLOCKED;
        Word<TE, W> w = held;
        if (lane == 0) w = in.read();
        axis_t<32> o;
        o.data = ap_int<32>(w.v[lane]);
        o.keep = -1;
        const bool word_done = lane == W - 1;
        const bool chunk_done = word_done && words == WORDS - 1;
        o.last = chunk_done && chunk_ends_here;
        out.write(o);
        held = w;
        lane = word_done ? 0 : lane + 1;
        if (word_done && ++words == WORDS) {
            words = 0;
            if (chunk_ends_here) chunks_done++;
            else trailer_due = true;
        }
        return FIRED;
    }
};

}  // namespace rubicon
#endif
