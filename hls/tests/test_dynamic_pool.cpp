// C++ test of DynamicPool: steps the kernel once per clock against bounded CycleFifos and
// compares every output beat and every {count, overflow} with the vectors that Python wrote
// from dynamic_pool_int. Three runs per kernel instantiation ("config"):
//   isolated  one chunk at a time, inputs always offered, outputs always taken: per-case cycles
//   stream    all chunks back to back, same conditions: total cycles
//   stalls    inputs offered and outputs taken at random (pseudo-random, fixed seed): values only
// Cycles run from the first input beat the kernel accepts to the last beat it emits, both
// included. The configs (kernel types and tables) come from the generated "dp_configs.h", which
// defines DP_CONFIGS(X) as X(index, kernel type) for every config; vectors are read from
// <dir>/cfg<index>/{features,ab,frames,count,overflow}.npy.
// Output, one line each: "cfg <i> case <k> cycles <n>", "cfg <i> stream_cycles <n>",
// "cfg <i> errors <n>". Exit code 1 when any value differs.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "dynamic_pool.h"
#include "sim/cycle_fifo.h"
#include "sim/npy.h"
#include "dp_configs.h"

namespace {

// A CycleFifo that remembers when the kernel last read from or wrote to it.
template <typename T>
struct Probe : rubicon::CycleFifo<T> {
    const rubicon::Clock &clk;
    long long first_read = -1, last_write = -1;
    Probe(const rubicon::Clock &c, const char *name) : rubicon::CycleFifo<T>(c, name, 2, 1), clk(c) {}
    T read() {
        if (first_read < 0) first_read = (long long)clk.now;
        return rubicon::CycleFifo<T>::read();
    }
    void write(const T &v) {
        last_write = (long long)clk.now;
        rubicon::CycleFifo<T>::write(v);
    }
};

struct Vectors {
    std::vector<int64_t> features, ab, frames, count, overflow;
    size_t n = 0, t = 0, c = 0, lmax = 0;
    explicit Vectors(const std::string &dir) {
        std::vector<size_t> s;
        features = rubicon::load_npy<int64_t>(dir + "/features.npy", s);
        n = s[0], t = s[1], c = s[2];
        ab = rubicon::load_npy<int64_t>(dir + "/ab.npy", s);
        frames = rubicon::load_npy<int64_t>(dir + "/frames.npy", s);
        lmax = s[1];
        count = rubicon::load_npy<int64_t>(dir + "/count.npy", s);
        overflow = rubicon::load_npy<int64_t>(dir + "/overflow.npy", s);
    }
};

struct Lcg {  // deterministic stalls, identical on every platform
    uint64_t s = 12345;
    bool coin() {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        return (s >> 33) % 10 < 6;
    }
};

enum Mode { ISOLATED, STREAM, STALLS };

// Runs cases [first, last) through kernel k; returns the cycles, counts mismatches into errors.
template <typename K>
long long run(K &k, const Vectors &v, size_t first, size_t last, Mode mode, Lcg &rng, unsigned &errors, int cfg) {
    constexpr unsigned PE = K::LANES;
    constexpr unsigned NF = K::NF;
    typedef rubicon::Word<typename K::feature_t, PE> f_t;
    typedef rubicon::Word<typename K::ab_t, 2> ab_t;
    typedef rubicon::Word<typename K::out_t, PE> o_t;
    typedef typename K::side_t s_t;
    rubicon::Clock clk;
    Probe<f_t> fin(clk, "features");
    Probe<ab_t> abin(clk, "ab");
    Probe<o_t> out(clk, "out");
    Probe<s_t> side(clk, "side");
    const size_t f_beats = v.t * NF, o_beats = v.lmax * NF;
    size_t fi = first * f_beats, ai = first * v.t, oi = first * o_beats, si = first;
    const size_t f_end = last * f_beats, a_end = last * v.t, o_end = last * o_beats;
    unsigned idle = 0;
    const unsigned chunks_before = k.chunks_done;
    while (oi < o_end || si < last) {
        if (fi < f_end && !fin.full() && (mode != STALLS || rng.coin())) {
            f_t w;
            for (unsigned p = 0; p < PE; p++) w.v[p] = v.features[fi * PE + p];
            fin.write(w);
            fi++;
        }
        if (ai < a_end && !abin.full() && (mode != STALLS || rng.coin())) {
            ab_t w;
            w.v[0] = v.ab[ai * 2];
            w.v[1] = v.ab[ai * 2 + 1];
            abin.write(w);
            ai++;
        }
        const rubicon::Status st = k.step(fin, abin, out, side);
        idle = st == rubicon::FIRED ? 0 : idle + 1;
        if (idle > 1000) {
            std::printf("cfg %d deadlock at cycle %llu\n", cfg, (unsigned long long)clk.now);
            errors++;
            return -1;
        }
        if (!out.empty() && (mode != STALLS || rng.coin())) {
            const o_t w = out.read();
            for (unsigned p = 0; p < PE; p++) {
                const int64_t want = v.frames[oi * PE + p];
                if ((int64_t)w.v[p].to_uint64() != want && errors++ < 10)
                    std::printf("cfg %d case %zu frame %zu channel %zu: got %llu want %lld\n", cfg, oi / o_beats,
                                (oi % o_beats) / NF, (oi % NF) * PE + p, (unsigned long long)w.v[p].to_uint64(),
                                (long long)want);
            }
            oi++;
        }
        if (!side.empty() && (mode != STALLS || rng.coin())) {
            const s_t w = side.read();
            const int64_t count = w.v[0].to_uint64(), overflow = w.v[1].to_uint64();
            if ((count != v.count[si] || overflow != v.overflow[si]) && errors++ < 10)
                std::printf("cfg %d case %zu: count %lld overflow %lld, want %lld %lld\n", cfg, si, (long long)count,
                            (long long)overflow, (long long)v.count[si], (long long)v.overflow[si]);
            si++;
        }
        fin.tick();
        abin.tick();
        out.tick();
        side.tick();
        clk.now++;
    }
    // nothing more may come out, and every chunk must have been counted
    for (unsigned extra = 0; extra < 2 * NF * (v.lmax + 2) + 8; extra++) {
        k.step(fin, abin, out, side);
        fin.tick(), abin.tick(), out.tick(), side.tick();
        clk.now++;
    }
    if (!out.empty() || !side.empty() || k.chunks_done - chunks_before != last - first) {
        std::printf("cfg %d: beats after the last chunk, or %u chunks counted for %zu\n", cfg,
                    k.chunks_done - chunks_before, last - first);
        errors++;
    }
    const long long last_out = std::max(out.last_write, side.last_write);
    // the {a, b} beat of the first frame is always the first one read (features wait for it)
    const long long first_in = std::min(abin.first_read, fin.first_read < 0 ? abin.first_read : fin.first_read);
    return last_out - first_in + 1;
}

template <typename K>
unsigned run_config(const std::string &dir, int cfg) {
    const Vectors v(dir + "/cfg" + std::to_string(cfg));
    unsigned errors = 0;
    Lcg rng;
    {
        static K k;  // static: the window arrays can be large; one kernel for all isolated chunks
        for (size_t c = 0; c < v.n; c++)
            std::printf("cfg %d case %zu cycles %lld\n", cfg, c, run(k, v, c, c + 1, ISOLATED, rng, errors, cfg));
    }
    {
        static K k;
        std::printf("cfg %d stream_cycles %lld\n", cfg, run(k, v, 0, v.n, STREAM, rng, errors, cfg));
    }
    {
        static K k;
        run(k, v, 0, v.n, STALLS, rng, errors, cfg);
    }
    std::printf("cfg %d errors %u\n", cfg, errors);
    return errors;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <vector dir>\n", argv[0]);
        return 2;
    }
    unsigned errors = 0;
#define X(i, K) errors += run_config<K>(argv[1], i);
    DP_CONFIGS(X)
#undef X
    return errors ? 1 : 0;
}
