"""The cycle simulator's FIFO: its high-water mark is a depth that never refuses a write, so FIFO
sizing from a deep run cannot size a residual branch one word short (it deadlocked a 5-stack
residual build: skipclip arm d)."""
import subprocess

from flow.paths import REPO_ROOT

PROGRAM = r"""
#include <cstdio>
#include "sim/cycle_fifo.h"
int main() {
    rubicon::Clock clock;
    rubicon::CycleFifo<int> f(clock, "f", 1000, 0);
    f.write(1); f.tick(); clock.now++;             // cycle 0: one word in
    for (int t = 0; t < 5; ++t) {                  // then each cycle: read one, write one (steady 1 word)
        f.read(); f.write(2); f.tick(); clock.now++;
    }
    rubicon::CycleFifo<int> g(clock, "g", 2, 0);   // at the depth f reports, the same pattern never stalls
    int refused = 0;
    g.write(1); g.tick(); clock.now++;
    for (int t = 0; t < 5; ++t) {
        g.read();
        if (g.full()) refused++; else g.write(2);
        g.tick(); clock.now++;
    }
    std::printf("%zu %d\n", f.high_water, refused);
}
"""


def test_high_water_counts_the_occupancy_a_write_sees(tmp_path):
    src = tmp_path / "fifo.cpp"
    src.write_text(PROGRAM)
    subprocess.run(["g++", "-std=c++17", "-I", str(REPO_ROOT / "hls"), str(src), "-o", str(tmp_path / "fifo")], check=True)
    high_water, refused = map(int, subprocess.run([str(tmp_path / "fifo")], capture_output=True, text=True,
                                                  check=True).stdout.split())
    # by hand: a read then a write in one cycle leaves 1 word, but the write needed occupancy-at-start 1 < depth
    assert high_water == 2
    assert refused == 0
