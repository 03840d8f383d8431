// The accelerator's AXI-Stream edges, twins of hls/axis.h.
//
// input_adapter: BEAT_BITS-wide DMA beats of BEAT_BITS/EB samples (little end first) → the
// first node's words of W samples. output_adapter: head words of W elements → one sign-extended
// 32-bit beat per element, tlast on the chunk's last beat; with HAS_SIDE the chunk ends with one
// trailer beat from the dynamic pool's side stream {overflow, count}: bits 30..0 the count,
// bit 31 the overflow flag, and tlast moves to it.
// Both take one step per clock like the C++ step(): the output is a register that a step fills
// whenever it is empty or being read. Ports and lanes: hls/rtl/README.md.
module input_adapter #(
    parameter int BEAT_BITS = 64,
    parameter int EB = 8,
    parameter int W = 1
) (
    input  logic                 clk,
    input  logic                 rst_n,
    input  logic [BEAT_BITS-1:0] s_in_tdata,
    input  logic                 s_in_tvalid,
    output logic                 s_in_tready,
    output logic [W*EB-1:0]      m_out_tdata,
    output logic                 m_out_tvalid,
    input  logic                 m_out_tready
);
    localparam int PER_BEAT = BEAT_BITS / EB;
    localparam int OW = $clog2(PER_BEAT + 1);
    logic [BEAT_BITS-1:0] held;
    logic [OW-1:0] offset;  // next sample within the held beat; 0 = need a new beat
    wire need = offset == 0;
    wire room = !m_out_tvalid || m_out_tready;
    wire fire = room && (!need || s_in_tvalid);
    wire [BEAT_BITS-1:0] data = need ? s_in_tdata : held;
    assign s_in_tready = need && room;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            offset <= '0;
            m_out_tvalid <= 1'b0;
        end else if (fire) begin
            m_out_tdata <= data[offset * EB +: W * EB];
            m_out_tvalid <= 1'b1;
            held <= data;
            offset <= offset + OW'(W) == OW'(PER_BEAT) ? '0 : offset + OW'(W);
        end else if (m_out_tready) begin
            m_out_tvalid <= 1'b0;
        end
    end
endmodule

module output_adapter #(
    parameter int W = 1,
    parameter int EB = 16,
    parameter int SIGNED = 1,
    parameter int WORDS = 1,      // head words per chunk
    parameter int HAS_SIDE = 0,
    parameter int SIDE_BITS = 2   // {overflow, count}: count in SIDE_BITS-1 bits
) (
    input  logic                 clk,
    input  logic                 rst_n,
    input  logic [W*EB-1:0]      s_in_tdata,
    input  logic                 s_in_tvalid,
    output logic                 s_in_tready,
    input  logic [SIDE_BITS-1:0] s_side_tdata,
    input  logic                 s_side_tvalid,
    output logic                 s_side_tready,
    output logic [31:0]          m_out_tdata,
    output logic                 m_out_tvalid,
    output logic                 m_out_tlast,
    input  logic                 m_out_tready
);
    localparam int LW = W > 1 ? $clog2(W) : 1;
    localparam int CW = $clog2(WORDS + 1);
    logic [W*EB-1:0] held;
    logic [LW-1:0] lane;     // next element of the held word; 0 = need a new word
    logic [CW-1:0] words;
    logic trailer_due;
    wire room = !m_out_tvalid || m_out_tready;
    wire need = lane == 0;
    wire fire_logit = !trailer_due && room && (!need || s_in_tvalid);
    wire fire_side = trailer_due && room && s_side_tvalid;
    wire [W*EB-1:0] word = need ? s_in_tdata : held;
    wire [EB-1:0] elem = word[lane * EB +: EB];
    wire word_done = lane == LW'(W - 1);
    wire chunk_done = word_done && words == CW'(WORDS - 1);
    assign s_in_tready = !trailer_due && need && room;
    assign s_side_tready = trailer_due && room;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            lane <= '0;
            words <= '0;
            trailer_due <= 1'b0;
            m_out_tvalid <= 1'b0;
        end else if (fire_logit) begin
            m_out_tdata <= SIGNED != 0 ? 32'($signed(elem)) : 32'(elem);
            m_out_tlast <= chunk_done && HAS_SIDE == 0;
            m_out_tvalid <= 1'b1;
            held <= word;
            lane <= word_done ? '0 : lane + 1'b1;
            if (word_done) words <= chunk_done ? '0 : words + 1'b1;
            if (chunk_done && HAS_SIDE != 0) trailer_due <= 1'b1;
        end else if (fire_side) begin
            m_out_tdata <= {s_side_tdata[SIDE_BITS-1], 31'(s_side_tdata[SIDE_BITS-2:0])};
            m_out_tlast <= 1'b1;
            m_out_tvalid <= 1'b1;
            trailer_due <= 1'b0;
        end else if (m_out_tready) begin
            m_out_tvalid <= 1'b0;
        end
    end
endmodule
