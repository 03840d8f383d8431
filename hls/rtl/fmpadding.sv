// fmpadding: the twin of rubicon::FMPadding1D (hls/fmpadding.h): PAD_L zero frames, the T input
// frames, PAD_R zero frames, C/SIMD beats of SIMD elements per frame. One clock = one step():
// a step emits one beat, read from s_in inside the chunk and zero in the pads, so the two
// handshakes of a step happen in the same cycle (no register between them: data, valid and
// ready pass through combinationally, as the C++ step reads and writes in one call).
//   s_in   SIMD elements of BITS per beat, T·C/SIMD beats per chunk
//   m_out  SIMD elements of BITS per beat, (PAD_L + T + PAD_R)·C/SIMD beats per chunk
// m_out_tvalid looks at s_in_tvalid inside the chunk, s_in_tready at m_out_tready; neither valid
// at its own ready. Ports and lanes: hls/rtl/README.md; rst_n synchronous, active low.
module fmpadding #(
    parameter int C = 4,
    parameter int SIMD = 2,
    parameter int T = 8,
    parameter int PAD_L = 1,
    parameter int PAD_R = 1,
    parameter int BITS = 8
) (
    input  logic                 clk,
    input  logic                 rst_n,
    input  logic [SIMD*BITS-1:0] s_in_tdata,
    input  logic                 s_in_tvalid,
    output logic                 s_in_tready,
    output logic [SIMD*BITS-1:0] m_out_tdata,
    output logic                 m_out_tvalid,
    input  logic                 m_out_tready
);
    localparam int FOLD = C / SIMD;
    localparam int FRAMES = PAD_L + T + PAD_R;
    localparam int GW = FOLD > 1 ? $clog2(FOLD) : 1;
    localparam int FW = $clog2(FRAMES + 1);

    logic [GW-1:0] group;   // beat within the frame
    logic [FW-1:0] frame;   // output frame within the chunk
    wire in_chunk = frame >= FW'(PAD_L) && frame < FW'(PAD_L + T);
    wire fire = m_out_tvalid && m_out_tready;

    assign m_out_tvalid = rst_n && (!in_chunk || s_in_tvalid);
    assign s_in_tready = rst_n && in_chunk && m_out_tready;
    assign m_out_tdata = in_chunk ? s_in_tdata : '0;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            group <= '0;
            frame <= '0;
        end else if (fire) begin
            if (group == GW'(FOLD - 1)) begin
                group <= '0;
                frame <= frame == FW'(FRAMES - 1) ? '0 : frame + 1'b1;
            end else begin
                group <= group + 1'b1;
            end
        end
    end
endmodule
