// mvau: the MVAU twin (hls/mvau.h). One clock is one step(): SIMD input elements times the
// weights of PE neurons, NF = MH/PE neuron folds of SF = MW/SIMD steps per frame, the input beats
// of a frame taken while nf = 0 (s_in_tready only then) and kept in `inbuf` for the other folds.
// The step's weights word (tile nf*SF + sf) and input are registered in the cycle it fires; the
// next cycle forms the PE dot products and accumulates them (mac.sv mac_acc), which then go
// through the thresholds (threshold_unit.sv) or, NO_ACT, are the output. A step fires when its
// input is there (or comes from inbuf) and the pipeline moves: every stage moves together while
// the output register is free or being taken (en), so a stalled output holds all of them.
//
// Multipliers (resType): LANES = 0, fabric multipliers (mac.sv lut_mult), weights one word per
// tile, lane p's element s at bits (p*SIMD + s)*W_BITS. LANES > 0, hls/mvau.h
// PackedDspMultipliers: LANES neighbouring PEs' weights packed G bits apart into one WP_BITS-wide
// signed word (group g, element s at bits (g*SIMD + s)*WP_BITS of the tile's word); per group a
// WP_BITS x input multiply for each SIMD element (one DSP48 each), summed into the chain; lane i
// read out as the signed G bits at i*G plus the borrow bit i*G - 1 (hls/common.h packed_lane).
// Ports and lanes: hls/rtl/README.md.
module mvau #(
    parameter int MW = 4,
    parameter int MH = 4,
    parameter int SIMD = 1,
    parameter int PE = 1,
    parameter int NO_ACT = 0,
    parameter int TI_BITS = 4,
    parameter int TI_SIGNED = 0,
    parameter int TA_BITS = 16,
    parameter int TO_BITS = 4,
    parameter int W_BITS = 4,
    parameter int W_SIGNED = 1,
    parameter int LANES = 0,
    parameter int G = 2,
    parameter int WP_BITS = 2,
    parameter int LEVELS = 1,
    parameter int ACT_BIAS = 0,
    parameter int THR_STYLE = 0,
    parameter int THR_BITS = 2,
    parameter int WEIGHT_STYLE = 0,   // weight memory: 0 synthesis decides, 1 block RAM
    parameter WEIGHTS = "weights.hex",
    parameter THRESHOLDS = "thresholds.hex"
) (
    input  logic                   clk,
    input  logic                   rst_n,
    input  logic [SIMD*TI_BITS-1:0] s_in_tdata,
    input  logic                   s_in_tvalid,
    output logic                   s_in_tready,
    output logic [PE*TO_BITS-1:0]  m_out_tdata,
    output logic                   m_out_tvalid,
    input  logic                   m_out_tready
);
    localparam int SF = MW / SIMD;
    localparam int NF = MH / PE;
    localparam int TILES = NF * SF;
    localparam int SFW = SF > 1 ? $clog2(SF) : 1;
    localparam int NFW = NF > 1 ? $clog2(NF) : 1;
    localparam int TW = TILES > 1 ? $clog2(TILES) : 1;
    localparam int GROUPS = LANES > 0 ? (PE + LANES - 1) / LANES : 1;
    localparam int WORD = LANES > 0 ? GROUPS * SIMD * WP_BITS : PE * SIMD * W_BITS;
    localparam int XB = TI_BITS + (TI_SIGNED ? 0 : 1);  // an input element, signed
    localparam int PB = W_BITS + TI_BITS + 1;            // a LUT product, signed

    logic [WORD-1:0] w;
    logic [SIMD*TI_BITS-1:0] inbuf [SF];

    // ---------------------------------------------------------------- step: counters, stage 1
    logic [SFW-1:0] sf;
    logic [NFW-1:0] nf, nf1;
    logic [TW-1:0] tile;
    logic [SIMD*TI_BITS-1:0] x_in, x_buf;
    logic take_in, first, last, valid1, writing;

    wire en = !m_out_tvalid || m_out_tready;
    rom #(.WIDTH(WORD), .DEPTH(TILES), .STYLE(WEIGHT_STYLE), .FILE(WEIGHTS)) u_weights (
        .clk(clk), .en(en), .addr(tile), .data(w));
    wire reading = nf == '0;
    assign s_in_tready = en && reading;
    wire fire = en && (!reading || s_in_tvalid);
    fold_counter #(.IN_F(SF), .OUT_F(NF)) u_folds (.clk(clk), .rst_n(rst_n), .fire(fire), .in_f(sf), .out_f(nf),
        .tile(tile), .last_in(writing));

    always_ff @(posedge clk) begin
        if (fire && reading) inbuf[sf] <= s_in_tdata;
        if (en) begin
            x_in <= s_in_tdata;
            x_buf <= inbuf[sf];
            take_in <= reading;
            first <= sf == '0;
            last <= writing;
            nf1 <= nf;
        end
        if (!rst_n) valid1 <= 1'b0;
        else if (en) valid1 <= fire;
    end
    wire [SIMD*TI_BITS-1:0] x = take_in ? x_in : x_buf;

    // ---------------------------------------------------------------- stage 2: dot products
    logic [PE*TA_BITS-1:0] dot;
    if (LANES == 0) begin : lut
        for (genvar p = 0; p < PE; p++) begin : lane
            wire [SIMD*PB-1:0] prod;
            for (genvar s = 0; s < SIMD; s++) begin : mul
                lut_mult #(.A_BITS(W_BITS), .A_SIGNED(W_SIGNED), .B_BITS(TI_BITS), .B_SIGNED(TI_SIGNED), .P_BITS(PB))
                    m (.a(w[(p*SIMD + s)*W_BITS +: W_BITS]), .b(x[s*TI_BITS +: TI_BITS]), .p(prod[s*PB +: PB]));
            end
            logic [TA_BITS-1:0] sum;
            always_comb begin
                sum = '0;
                for (int s = 0; s < SIMD; s++) sum = sum + TA_BITS'($signed(prod[s*PB +: PB]));
            end
            assign dot[p*TA_BITS +: TA_BITS] = sum;
        end
    end else begin : dsp
        localparam int CW = LANES * G;        // the chain: every lane's field and its borrow
        localparam int MB = WP_BITS + XB;     // one packed product
        for (genvar g = 0; g < GROUPS; g++) begin : group
            wire [SIMD*MB-1:0] prod;
            for (genvar s = 0; s < SIMD; s++) begin : mul
                wire signed [XB-1:0] xs = TI_SIGNED ? XB'($signed(x[s*TI_BITS +: TI_BITS])) : XB'(x[s*TI_BITS +: TI_BITS]);
                wire signed [WP_BITS-1:0] ws = w[(g*SIMD + s)*WP_BITS +: WP_BITS];
                wire signed [MB-1:0] m = ws * xs;
                assign prod[s*MB +: MB] = m;
            end
            logic [CW-1:0] chain;
            always_comb begin
                chain = '0;
                for (int s = 0; s < SIMD; s++)
                    chain = chain + CW'($signed(prod[s*MB +: MB]));
            end
            for (genvar i = 0; i < LANES; i++) begin : lane
                if (g * LANES + i < PE) begin : used
                    wire signed [G-1:0] field = chain[i*G +: G];
                    if (i == 0) begin : low
                        assign dot[(g*LANES + i)*TA_BITS +: TA_BITS] = TA_BITS'(field);
                    end else begin : borrow
                        assign dot[(g*LANES + i)*TA_BITS +: TA_BITS] = TA_BITS'(field) + TA_BITS'(chain[i*G - 1]);
                    end
                end
            end
        end
    end

    // ---------------------------------------------------------------- accumulators, thresholds
    mac_acc #(.PE(PE), .NF(NF), .NO_ACT(NO_ACT), .TA_BITS(TA_BITS), .TO_BITS(TO_BITS), .LEVELS(LEVELS),
              .ACT_BIAS(ACT_BIAS), .THR_STYLE(THR_STYLE), .THR_BITS(THR_BITS), .THRESHOLDS(THRESHOLDS))
        back (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(valid1), .first(first), .last(last), .nf(nf1), .dot(dot),
              .out_valid(m_out_tvalid), .out_y(m_out_tdata));
endmodule
