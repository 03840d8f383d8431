// thresholding: the Thresholding twin (hls/streams.h), PE channels per beat. One clock is one
// step(): take a beat, and in the same cycle its fold's thresholds are read; the counts come out
// of the threshold unit's pipeline (threshold_unit.sv: 2 registers parallel, clog2(LEVELS+1) + 1
// search). The whole pipeline moves when its output register is free or being taken (en), so a
// stalled output holds every stage; s_in_tready = en. Tables and styles: threshold_unit.sv.
// Ports and lanes: hls/rtl/README.md.
module thresholding #(
    parameter int C = 4,
    parameter int PE = 1,
    parameter int LEVELS = 1,
    parameter int ACT_BIAS = 0,
    parameter int TI_BITS = 8,
    parameter int TI_SIGNED = 1,
    parameter int TO_BITS = 4,
    parameter int THR_STYLE = 0,
    parameter int THR_BITS = 8,
    parameter THRESHOLDS = "thresholds.hex"
) (
    input  logic                   clk,
    input  logic                   rst_n,
    input  logic [PE*TI_BITS-1:0]  s_in_tdata,
    input  logic                   s_in_tvalid,
    output logic                   s_in_tready,
    output logic [PE*TO_BITS-1:0]  m_out_tdata,
    output logic                   m_out_tvalid,
    input  logic                   m_out_tready
);
    localparam int NF = C / PE;
    localparam int NFW = NF > 1 ? $clog2(NF) : 1;
    localparam int V_BITS = TI_BITS + (TI_SIGNED ? 0 : 1);  // signed values

    wire en = !m_out_tvalid || m_out_tready;
    assign s_in_tready = en;
    wire fire = en && s_in_tvalid;

    logic [NFW-1:0] nf;
    always_ff @(posedge clk) begin
        if (!rst_n) nf <= '0;
        else if (fire) nf <= nf == NFW'(NF - 1) ? '0 : nf + 1'b1;
    end

    logic [PE*V_BITS-1:0] v;
    always_comb
        for (int p = 0; p < PE; p++)
            v[p*V_BITS +: V_BITS] = TI_SIGNED ? V_BITS'($signed(s_in_tdata[p*TI_BITS +: TI_BITS]))
                                              : V_BITS'(s_in_tdata[p*TI_BITS +: TI_BITS]);

    threshold_unit #(.PE(PE), .NF(NF), .LEVELS(LEVELS), .ACT_BIAS(ACT_BIAS), .V_BITS(V_BITS), .THR_BITS(THR_BITS),
                     .O_BITS(TO_BITS), .THR_STYLE(THR_STYLE), .THRESHOLDS(THRESHOLDS))
        unit (.clk(clk), .rst_n(rst_n), .en(en), .in_valid(fire), .in_nf(nf), .in_v(v), .out_valid(m_out_tvalid),
              .out_y(m_out_tdata));
endmodule
