// Clock for the Verilator testbenches of the RTL twins: the generated top `tb_top` (flow.sim.rtl
// for dynamic_pool, flow.sim.rtl_op for every op) takes its plusargs and calls $finish when done.
// A run that does not finish in time is an error.
#include <cstdio>
#include <memory>

#include "Vtb_top.h"
#include "verilated.h"

int main(int argc, char **argv) {
    const std::unique_ptr<VerilatedContext> ctx{new VerilatedContext};
    ctx->commandArgs(argc, argv);
    const std::unique_ptr<Vtb_top> top{new Vtb_top{ctx.get()}};
    const uint64_t limit = 50000000;
    uint64_t ticks = 0;
    top->clk = 0;
    top->eval();
    while (!ctx->gotFinish() && ticks < limit) {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
        ticks++;
    }
    top->final();
    if (!ctx->gotFinish()) {
        std::printf("error: no $finish after %llu cycles\n", (unsigned long long)ticks);
        return 1;
    }
    return 0;
}
