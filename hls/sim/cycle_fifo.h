// The cycle simulator's channel: a bounded FIFO between two kernels, stepped once per clock.
//
// A word written in cycle t becomes readable in cycle t + latency (the producer's pipeline
// depth). `full` looks at the occupancy at the start of the cycle, counting words in flight,
// so a slot freed by a read is reusable from the next cycle, as with a registered full flag;
// the kernels' step order within a cycle therefore does not matter.
#ifndef RUBICON_CYCLE_FIFO_H
#define RUBICON_CYCLE_FIFO_H
#include <cstdint>
#include <deque>
#include <string>
#include <utility>

namespace rubicon {

struct Clock {
    uint64_t now = 0;
};

template <typename T>
class CycleFifo {
  public:
    CycleFifo(const Clock &clock, std::string name, unsigned depth, unsigned latency)
        : name(std::move(name)), depth(depth), latency(latency), clock_(clock) {}

    bool empty() const { return q_.empty() || q_.front().second > clock_.now; }
    bool full() const { return occupancy_at_start_ >= depth; }
    T read() {
        T v = q_.front().first;
        q_.pop_front();
        return v;
    }
    // high_water: the least depth at which no write so far would have been refused. A write needs
    // occupancy_at_start_ < depth, which can exceed the size after it by one when a read came earlier
    // in the same cycle, so the size alone would size a FIFO one short (a residual branch then deadlocks).
    void write(const T &v) {
        q_.emplace_back(v, clock_.now + latency);
        if (q_.size() > high_water) high_water = q_.size();
        if (occupancy_at_start_ + 1 > high_water) high_water = occupancy_at_start_ + 1;
    }
    // End of a clock cycle: the full flag sees this cycle's reads and writes from now on.
    void tick() { occupancy_at_start_ = q_.size(); }
    size_t size() const { return q_.size(); }

    const std::string name;
    const unsigned depth;
    const unsigned latency;
    size_t high_water = 0;

  private:
    const Clock &clock_;
    std::deque<std::pair<T, uint64_t>> q_;
    size_t occupancy_at_start_ = 0;
};

// Per-kernel counters the report shows: cycles it did work, waited for input, or waited for space.
struct Activity {
    uint64_t busy = 0, starved = 0, blocked = 0;
    int last = 0;
    void count(int status) {
        last = status;
        if (status == 0) busy++;
        else if (status == 1) starved++;
        else if (status == 2) blocked++;
    }
};

}  // namespace rubicon
#endif
