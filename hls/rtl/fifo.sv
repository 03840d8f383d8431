// fifo: the StreamingFIFO twin, DEPTH beats of WIDTH bits (the build's sized depth). A beat
// written in one cycle can be read from the next; full and empty are registered counts, so
// s_in_tready and m_out_tvalid depend on no combinational path through the other side.
// Ports and lanes: hls/rtl/README.md.
module fifo #(
    parameter int WIDTH = 8,
    parameter int DEPTH = 2
) (
    input  logic             clk,
    input  logic             rst_n,
    input  logic [WIDTH-1:0] s_in_tdata,
    input  logic             s_in_tvalid,
    output logic             s_in_tready,
    output logic [WIDTH-1:0] m_out_tdata,
    output logic             m_out_tvalid,
    input  logic             m_out_tready
);
    localparam int AW = DEPTH > 1 ? $clog2(DEPTH) : 1;
    logic [WIDTH-1:0] mem [DEPTH];
    logic [AW-1:0] rd, wr;
    logic [AW:0] count;
    wire push = s_in_tvalid && s_in_tready;
    wire pop = m_out_tvalid && m_out_tready;

    assign s_in_tready = count < (AW + 1)'(DEPTH);
    assign m_out_tvalid = count != 0;
    assign m_out_tdata = mem[rd];

    wire [AW-1:0] wr_next = wr == AW'(DEPTH - 1) ? '0 : wr + 1'b1;
    wire [AW-1:0] rd_next = rd == AW'(DEPTH - 1) ? '0 : rd + 1'b1;

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            rd <= '0;
            wr <= '0;
            count <= '0;
        end else begin
            if (push) begin
                mem[wr] <= s_in_tdata;
                wr <= wr_next;
            end
            if (pop) rd <= rd_next;
            count <= count + (AW + 1)'(push) - (AW + 1)'(pop);
        end
    end
endmodule
