// What the mvau and vvau twins share: their step counters (fold_counter), fabric multipliers
// (lut_mult), the weight memory (rom) and the back end after the dot products (mac_acc:
// accumulator, then thresholds or the raw sums). Ports and lanes: hls/rtl/README.md.

// lut_mult: an A x B product in fabric logic (resType lut): the shift-and-add of A's partial
// products, B's top bit weighing -2^(B_BITS-1) when B is signed. Written without `*` so that
// synthesis keeps it out of DSP slices. The product is signed at P_BITS (W + A + 1 always hold it).
module lut_mult #(
    parameter int A_BITS = 4,
    parameter int A_SIGNED = 1,
    parameter int B_BITS = 4,
    parameter int B_SIGNED = 0,
    parameter int P_BITS = 9
) (
    input  logic [A_BITS-1:0] a,
    input  logic [B_BITS-1:0] b,
    output logic [P_BITS-1:0] p
);
    wire [P_BITS-1:0] ae = A_SIGNED ? P_BITS'($signed(a)) : P_BITS'(a);
    always_comb begin
        p = '0;
        for (int i = 0; i < B_BITS; i++)
            if (b[i]) p = (B_SIGNED && i == B_BITS - 1) ? p - (ae << i) : p + (ae << i);
    end
endmodule

// mac_acc: one step's PE dot products (valid in a cycle with in_valid and en) into the
// accumulators, restarted at a step with `first` (acc = dot), as step()'s
// `acc = (sf == 0 ? 0 : acc) + dot`, wrapping at TA_BITS like TA. A step with `last` (writing)
// hands the sums on: NO_ACT, they are the output register (acc truncated to TO_BITS); else
// they enter threshold_unit with their fold `nf`.
module mac_acc #(
    parameter int PE = 1,
    parameter int NF = 1,
    parameter int NO_ACT = 0,
    parameter int TA_BITS = 16,
    parameter int TO_BITS = 4,
    parameter int LEVELS = 1,
    parameter int ACT_BIAS = 0,
    parameter int THR_STYLE = 0,
    parameter int THR_BITS = 2,
    parameter THRESHOLDS = "thresholds.hex",
    parameter int NFW = NF > 1 ? $clog2(NF) : 1
) (
    input  logic                  clk,
    input  logic                  rst_n,
    input  logic                  en,
    input  logic                  in_valid,
    input  logic                  first,
    input  logic                  last,
    input  logic [NFW-1:0]        nf,
    input  logic [PE*TA_BITS-1:0] dot,
    output logic                  out_valid,
    output logic [PE*TO_BITS-1:0] out_y
);
    logic [PE*TA_BITS-1:0] acc;
    logic acc_valid;
    logic [NFW-1:0] acc_nf;
    always_ff @(posedge clk) begin
        if (en && in_valid)
            for (int p = 0; p < PE; p++)
                acc[p*TA_BITS +: TA_BITS] <= (first ? '0 : acc[p*TA_BITS +: TA_BITS]) + dot[p*TA_BITS +: TA_BITS];
        if (en) acc_nf <= nf;
        if (!rst_n) acc_valid <= 1'b0;
        else if (en) acc_valid <= in_valid && last;
    end

    if (NO_ACT) begin : raw
        assign out_valid = acc_valid;
        for (genvar p = 0; p < PE; p++) begin : lane
            assign out_y[p*TO_BITS +: TO_BITS] = TO_BITS'($signed(acc[p*TA_BITS +: TA_BITS]));
        end
    end else begin : act
        threshold_unit #(.PE(PE), .NF(NF), .LEVELS(LEVELS), .ACT_BIAS(ACT_BIAS), .V_BITS(TA_BITS), .THR_BITS(THR_BITS),
                         .O_BITS(TO_BITS), .THR_STYLE(THR_STYLE), .THRESHOLDS(THRESHOLDS))
            unit (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(acc_valid), .in_nf(acc_nf), .in_v(acc),
                  .out_valid(out_valid), .out_y(out_y));
    end
endmodule

// rom: a constant table read one word per clock into a register (read while `en`). STYLE 1 asks
// for block RAM, where the folding costed one (the node's ramStyle, or the estimate's rule for
// auto: deeper than 128 words); STYLE 0 lets synthesis decide. Yosys 0.23 left to itself maps
// some deep weight ROMs to logic that the folding had budgeted as BRAM. (Forcing distributed RAM
// is not offered: Yosys finds no LUTRAM mapping for very wide, shallow tables.)
module rom #(
    parameter int WIDTH = 8,
    parameter int DEPTH = 2,
    parameter int STYLE = 0,
    parameter FILE = "rom.hex",
    parameter int AW = DEPTH > 1 ? $clog2(DEPTH) : 1
) (
    input  logic             clk,
    input  logic             en,
    input  logic [AW-1:0]    addr,
    output logic [WIDTH-1:0] data
);
    if (STYLE == 1) begin : g_block
        (* rom_style = "block", ram_style = "block" *) logic [WIDTH-1:0] mem [DEPTH];
        initial $readmemh(FILE, mem);
        always_ff @(posedge clk) if (en) data <= mem[addr];
    end else begin : g_auto
        logic [WIDTH-1:0] mem [DEPTH];
        initial $readmemh(FILE, mem);
        always_ff @(posedge clk) if (en) data <= mem[addr];
    end
endmodule

// fold_counter: the step counters of the mvau and vvau twins, advanced by every fired step: the
// input fold in_f (0..IN_F-1: SIMD groups of a row, or kernel-tap groups), the output fold out_f
// (0..OUT_F-1: PE groups of channels) and the tile out_f*IN_F + in_f (the weight word).
// last_in marks a step that completes an output fold (step()'s `writing`).
module fold_counter #(
    parameter int IN_F = 1,
    parameter int OUT_F = 1,
    parameter int IW = IN_F > 1 ? $clog2(IN_F) : 1,
    parameter int OW = OUT_F > 1 ? $clog2(OUT_F) : 1,
    parameter int TW = IN_F * OUT_F > 1 ? $clog2(IN_F * OUT_F) : 1
) (
    input  logic          clk,
    input  logic          rst_n,
    input  logic          fire,
    output logic [IW-1:0] in_f,
    output logic [OW-1:0] out_f,
    output logic [TW-1:0] tile,
    output logic          last_in
);
    assign last_in = in_f == IW'(IN_F - 1);
    always_ff @(posedge clk) begin
        if (!rst_n) begin
            in_f <= '0;
            out_f <= '0;
            tile <= '0;
        end else if (fire) begin
            tile <= tile == TW'(IN_F * OUT_F - 1) ? '0 : tile + 1'b1;
            if (last_in) begin
                in_f <= '0;
                out_f <= out_f == OW'(OUT_F - 1) ? '0 : out_f + 1'b1;
            end else begin
                in_f <= in_f + 1'b1;
            end
        end
    end
endmodule
