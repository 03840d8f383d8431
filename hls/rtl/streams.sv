// Twins of the stream plumbing kernels in hls/streams.h: duplicate_streams (DuplicateStreams),
// add_streams (AddStreams) and dwc (DataWidthConverter). One clock = one step() of the C++
// kernel: a cycle does the whole step or nothing, so the handshakes of a step happen together.
// Ports and lanes: hls/rtl/README.md (lane p of a beat at tdata[p*BITS +: BITS]); rst_n is
// synchronous, active low. T (frames per chunk) only counts chunks in the C++; it is kept as a
// parameter so that every twin takes its kernel's template parameters.

// duplicate_streams: every s_in beat to m_out0 and m_out1 in the same cycle (PE elements of BITS).
// A step needs the input and both outputs: each output's tvalid looks at the other output's
// tready (never its own), s_in_tready at both. Put a FIFO behind at least one output when both
// consumers are twins that do the same (as the flow does: the skip branch is a FIFO).
module duplicate_streams #(
    parameter int C = 4,
    parameter int PE = 2,
    parameter int T = 8,
    parameter int BITS = 8
) (
    input  logic               clk,
    input  logic               rst_n,
    input  logic [PE*BITS-1:0] s_in_tdata,
    input  logic               s_in_tvalid,
    output logic               s_in_tready,
    output logic [PE*BITS-1:0] m_out0_tdata,
    output logic               m_out0_tvalid,
    input  logic               m_out0_tready,
    output logic [PE*BITS-1:0] m_out1_tdata,
    output logic               m_out1_tvalid,
    input  logic               m_out1_tready
);
    assign s_in_tready = rst_n && m_out0_tready && m_out1_tready;
    assign m_out0_tvalid = rst_n && s_in_tvalid && m_out1_tready;
    assign m_out1_tvalid = rst_n && s_in_tvalid && m_out0_tready;
    assign m_out0_tdata = s_in_tdata;
    assign m_out1_tdata = s_in_tdata;
endmodule

// add_streams: m_out = s_in0 + s_in1 lane by lane, each operand extended to O_BITS first (sign-
// or zero-extended by its type, as TO(x) + TO(y) in the C++), the sum kept to O_BITS (the op
// checks that it fits). A step needs both inputs and the output: each input's tready looks at
// the other input's tvalid and at m_out_tready; m_out_tvalid at both inputs' tvalid.
module add_streams #(
    parameter int C = 4,
    parameter int PE = 2,
    parameter int T = 8,
    parameter int A_BITS = 8,
    parameter int A_SIGNED = 1,
    parameter int B_BITS = 8,
    parameter int B_SIGNED = 1,
    parameter int O_BITS = 9
) (
    input  logic                 clk,
    input  logic                 rst_n,
    input  logic [PE*A_BITS-1:0] s_in0_tdata,
    input  logic                 s_in0_tvalid,
    output logic                 s_in0_tready,
    input  logic [PE*B_BITS-1:0] s_in1_tdata,
    input  logic                 s_in1_tvalid,
    output logic                 s_in1_tready,
    output logic [PE*O_BITS-1:0] m_out_tdata,
    output logic                 m_out_tvalid,
    input  logic                 m_out_tready
);
    // operands are extended to W ≥ O_BITS bits, then the sum is cut to O_BITS
    localparam int W = (A_BITS > B_BITS ? A_BITS : B_BITS) > O_BITS ? (A_BITS > B_BITS ? A_BITS : B_BITS) : O_BITS;

    assign m_out_tvalid = rst_n && s_in0_tvalid && s_in1_tvalid;
    assign s_in0_tready = rst_n && s_in1_tvalid && m_out_tready;
    assign s_in1_tready = rst_n && s_in0_tvalid && m_out_tready;

    for (genvar p = 0; p < PE; p++) begin : g_lane
        wire [A_BITS-1:0] a = s_in0_tdata[p*A_BITS +: A_BITS];
        wire [B_BITS-1:0] b = s_in1_tdata[p*B_BITS +: B_BITS];
        wire [W+A_BITS-1:0] ax = {{W{A_SIGNED != 0 && a[A_BITS-1]}}, a};  // extended, then cut to W
        wire [W+B_BITS-1:0] bx = {{W{B_SIGNED != 0 && b[B_BITS-1]}}, b};
        wire [W-1:0] sum = ax[W-1:0] + bx[W-1:0];
        assign m_out_tdata[p*O_BITS +: O_BITS] = sum[O_BITS-1:0];
    end
endmodule

// dwc: beats of IN_W elements to beats of OUT_W (BITS each) through a buffer of CAP = IN_W + OUT_W
// elements holding `count`, oldest at element 0. Per cycle, as the C++ step: emit the oldest OUT_W
// when count ≥ OUT_W and m_out is ready (shifting the rest down), and take a beat behind what is
// left when it fits (after + IN_W ≤ CAP). Both widths divide the frame, so chunks need no
// bookkeeping. m_out_tvalid is a register compare; s_in_tready looks at m_out_tready only.
// Elements at and above `count` are kept zero, so a new beat is ORed in at its place.
module dwc #(
    parameter int C = 4,
    parameter int IN_W = 2,
    parameter int OUT_W = 4,
    parameter int T = 8,
    parameter int BITS = 8
) (
    input  logic                  clk,
    input  logic                  rst_n,
    input  logic [IN_W*BITS-1:0]  s_in_tdata,
    input  logic                  s_in_tvalid,
    output logic                  s_in_tready,
    output logic [OUT_W*BITS-1:0] m_out_tdata,
    output logic                  m_out_tvalid,
    input  logic                  m_out_tready
);
    localparam int CAP = IN_W + OUT_W;
    localparam int CW = $clog2(CAP + 1);

    logic [CAP*BITS-1:0] buffer;
    logic [CW-1:0] count;
    wire can_write = m_out_tvalid && m_out_tready;
    wire [CW-1:0] after = can_write ? count - CW'(OUT_W) : count;
    wire can_read = s_in_tvalid && s_in_tready;
    wire [CAP*BITS-1:0] kept = can_write ? buffer >> (OUT_W * BITS) : buffer;
    wire [CAP*BITS-1:0] placed = (CAP * BITS)'(s_in_tdata) << (after * BITS);

    assign m_out_tvalid = rst_n && count >= CW'(OUT_W);
    assign s_in_tready = rst_n && (CW + 1)'(after) + (CW + 1)'(IN_W) <= (CW + 1)'(CAP);
    assign m_out_tdata = buffer[OUT_W*BITS-1:0];

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            buffer <= '0;
            count <= '0;
        end else begin
            buffer <= can_read ? kept | placed : kept;
            count <= can_read ? after + CW'(IN_W) : after;
        end
    end
endmodule
