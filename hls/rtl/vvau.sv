// vvau: the VVAU twin (hls/vvau.h), depthwise: each beat holds SIMD kernel taps of PE channels
// (element t*PE + p, the depthwise window order of the sliding window); NF = C/PE channel groups
// of KF = K/SIMD beats per frame. One clock is one step(): take a beat and its weights word (tile
// nf*KF + kf, lane p's tap t at bits (p*SIMD + t)*W_BITS), registered; the next cycle forms the PE
// dot products over SIMD taps (fabric multipliers, mac.sv lut_mult) and accumulates them; a
// group's last beat sends the sums through the thresholds (threshold_unit.sv). Every stage moves
// together while the output register is free or being taken (en); s_in_tready = en.
// Ports and lanes: hls/rtl/README.md.
module vvau #(
    parameter int C = 4,
    parameter int K = 3,
    parameter int PE = 1,
    parameter int SIMD = 1,
    parameter int TI_BITS = 4,
    parameter int TI_SIGNED = 0,
    parameter int TA_BITS = 16,
    parameter int TO_BITS = 4,
    parameter int W_BITS = 4,
    parameter int W_SIGNED = 1,
    parameter int LEVELS = 1,
    parameter int ACT_BIAS = 0,
    parameter int THR_STYLE = 0,
    parameter int THR_BITS = 2,
    parameter int WEIGHT_STYLE = 0,   // weight memory: 0 synthesis decides, 1 block RAM
    parameter WEIGHTS = "weights.hex",
    parameter THRESHOLDS = "thresholds.hex"
) (
    input  logic                      clk,
    input  logic                      rst_n,
    input  logic [PE*SIMD*TI_BITS-1:0] s_in_tdata,
    input  logic                      s_in_tvalid,
    output logic                      s_in_tready,
    output logic [PE*TO_BITS-1:0]     m_out_tdata,
    output logic                      m_out_tvalid,
    input  logic                      m_out_tready
);
    localparam int KF = K / SIMD;
    localparam int NF = C / PE;
    localparam int TILES = NF * KF;
    localparam int KFW = KF > 1 ? $clog2(KF) : 1;
    localparam int NFW = NF > 1 ? $clog2(NF) : 1;
    localparam int TW = TILES > 1 ? $clog2(TILES) : 1;
    localparam int PB = W_BITS + TI_BITS + 1;  // a product, signed

    logic [PE*SIMD*W_BITS-1:0] w;

    // ---------------------------------------------------------------- step: counters, stage 1
    logic [KFW-1:0] kf;
    logic [NFW-1:0] nf, nf1;
    logic [TW-1:0] tile;
    logic [PE*SIMD*TI_BITS-1:0] x;
    logic first, last, valid1, writing;

    wire en = !m_out_tvalid || m_out_tready;
    rom #(.WIDTH(PE*SIMD*W_BITS), .DEPTH(TILES), .STYLE(WEIGHT_STYLE), .FILE(WEIGHTS)) u_weights (
        .clk(clk), .en(en), .addr(tile), .data(w));
    assign s_in_tready = en;
    wire fire = en && s_in_tvalid;
    fold_counter #(.IN_F(KF), .OUT_F(NF)) u_folds (.clk(clk), .rst_n(rst_n), .fire(fire), .in_f(kf), .out_f(nf),
        .tile(tile), .last_in(writing));

    always_ff @(posedge clk) begin
        if (en) begin
            x <= s_in_tdata;
            first <= kf == '0;
            last <= writing;
            nf1 <= nf;
        end
        if (!rst_n) valid1 <= 1'b0;
        else if (en) valid1 <= fire;
    end

    // ---------------------------------------------------------------- stage 2: dot products
    logic [PE*TA_BITS-1:0] dot;
    for (genvar p = 0; p < PE; p++) begin : lane
        wire [SIMD*PB-1:0] prod;
        for (genvar t = 0; t < SIMD; t++) begin : mul
            lut_mult #(.A_BITS(W_BITS), .A_SIGNED(W_SIGNED), .B_BITS(TI_BITS), .B_SIGNED(TI_SIGNED), .P_BITS(PB))
                m (.a(w[(p*SIMD + t)*W_BITS +: W_BITS]), .b(x[(t*PE + p)*TI_BITS +: TI_BITS]), .p(prod[t*PB +: PB]));
        end
        logic [TA_BITS-1:0] sum;
        always_comb begin
            sum = '0;
            for (int t = 0; t < SIMD; t++) sum = sum + TA_BITS'($signed(prod[t*PB +: PB]));
        end
        assign dot[p*TA_BITS +: TA_BITS] = sum;
    end

    // ---------------------------------------------------------------- accumulators, thresholds
    mac_acc #(.PE(PE), .NF(NF), .NO_ACT(0), .TA_BITS(TA_BITS), .TO_BITS(TO_BITS), .LEVELS(LEVELS),
              .ACT_BIAS(ACT_BIAS), .THR_STYLE(THR_STYLE), .THR_BITS(THR_BITS), .THRESHOLDS(THRESHOLDS))
        back (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(valid1), .first(first), .last(last), .nf(nf1), .dot(dot),
              .out_valid(m_out_tvalid), .out_y(m_out_tdata));
endmodule
