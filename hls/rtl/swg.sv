// swg: the twin of rubicon::SlidingWindow1D (hls/swg.h), the ConvolutionInputGenerator1D: the
// sliding window over a chunk of T_IN frames, T_OUT windows of K taps, stride S, dilation D,
// C channels in C/SIMD groups of SIMD. Same state and counters as the C++ (read that header).
// Dense (DEPTHWISE = 0): per window taps outer, groups inner, one tap of SIMD channels per beat.
// Depthwise: groups outer, taps inner, TAPS consecutive taps of the group per beat (element
// t*SIMD + c). A ring of BUF = SPAN + S frames holds the input.
//
// One clock = one step(): a cycle may take one input beat (while the frame it fills is no
// longer needed: read_frame < first + BUF) and emit one window beat (once the window's frames
// are in: read_frame ≥ first + SPAN). Both conditions are registers, so s_in_tready and
// m_out_tvalid have no combinational path from any stream; the two halves of a step are
// independent (as in the C++: each happens when its stream allows).
//
// The ring: with TAPS = 1 one memory of BUF·(C/SIMD) words (slot·FOLD + group); with TAPS > 1
// one bank of C/SIMD words per frame slot and a BUF:1 multiplexer per tap. The read address is
// a register loaded with the next step's address, so the memory can be a synchronous-read
// (block) RAM; a word is never read in the cycle it is written (a window only reads frames that
// are complete).
//   s_in   SIMD elements of BITS per beat, T_IN·C/SIMD beats per chunk
//   m_out  TAPS·SIMD elements of BITS per beat, T_OUT·K·C/(SIMD·TAPS) beats per chunk
// Ports and lanes: hls/rtl/README.md; rst_n synchronous, active low.
module swg #(
    parameter int C = 4,
    parameter int SIMD = 2,
    parameter int K = 3,
    parameter int S = 1,
    parameter int D = 1,
    parameter int T_IN = 10,
    parameter int T_OUT = 8,
    parameter int DEPTHWISE = 0,
    parameter int BITS = 8,
    parameter int TAPS = 1
) (
    input  logic                      clk,
    input  logic                      rst_n,
    input  logic [SIMD*BITS-1:0]      s_in_tdata,
    input  logic                      s_in_tvalid,
    output logic                      s_in_tready,
    output logic [TAPS*SIMD*BITS-1:0] m_out_tdata,
    output logic                      m_out_tvalid,
    input  logic                      m_out_tready
);
    localparam int FOLD = C / SIMD;
    localparam int SPAN = (K - 1) * D + 1;
    localparam int BUF = SPAN + S;
    localparam int BLOCKS = K / TAPS;
    localparam int WB = SIMD * BITS;
    localparam int SW = $clog2(BUF);                 // ring slot (BUF ≥ 2)
    localparam int GW = FOLD > 1 ? $clog2(FOLD) : 1; // group
    localparam int BW = BLOCKS > 1 ? $clog2(BLOCKS) : 1;
    localparam int RW = $clog2(T_IN + 1);            // read_frame in [0, T_IN]
    localparam int OW = $clog2(T_OUT + 1);           // out_frame in [0, T_OUT]
    localparam int FW = $clog2(T_IN + S + 1);        // first in [0, T_IN + S]
    localparam int XW = $clog2(T_IN + S + BUF + 1);  // first + BUF
    localparam int AW = $clog2(BUF * FOLD);          // ring word address (TAPS = 1)

    // A slot plus an offset below BUF, back into [0, BUF).
    function automatic logic [SW-1:0] wrap(input logic [SW:0] v);
        wrap = v >= (SW + 1)'(BUF) ? SW'(v - (SW + 1)'(BUF)) : SW'(v);
    endfunction

    // ---------------------------------------------------------------- state (as the C++)
    logic [RW-1:0] read_frame, rf_n;
    logic [GW-1:0] read_group, rg_n;
    logic [SW-1:0] read_slot, rs_n;
    logic [OW-1:0] out_frame, of_n;
    logic [FW-1:0] first, first_n;
    logic [SW-1:0] first_slot, fs_n, tap_slot, ts_n;
    logic [BW-1:0] block, blk_n;
    logic [GW-1:0] group, grp_n;

    wire want_read = read_frame < RW'(T_IN) && XW'(read_frame) < XW'(first) + XW'(BUF);
    wire want_write = out_frame < OW'(T_OUT) && XW'(read_frame) >= XW'(first) + XW'(SPAN);
    assign s_in_tready = rst_n && want_read;
    assign m_out_tvalid = rst_n && want_write;
    wire can_read = s_in_tvalid && s_in_tready;
    wire can_write = m_out_tvalid && m_out_tready;

    always_comb begin
        logic window_done;
        rf_n = read_frame;
        rg_n = read_group;
        rs_n = read_slot;
        of_n = out_frame;
        first_n = first;
        fs_n = first_slot;
        ts_n = tap_slot;
        blk_n = block;
        grp_n = group;
        window_done = 1'b0;
        if (can_write) begin
            if (DEPTHWISE != 0) begin
                if (block != BW'(BLOCKS - 1)) begin
                    blk_n = block + 1'b1;
                    ts_n = wrap((SW + 1)'(tap_slot) + (SW + 1)'(TAPS * D));
                end else begin
                    blk_n = '0;
                    ts_n = first_slot;
                    if (group == GW'(FOLD - 1)) begin
                        grp_n = '0;
                        window_done = 1'b1;
                    end else grp_n = group + 1'b1;
                end
            end else if (group == GW'(FOLD - 1)) begin
                grp_n = '0;
                if (block != BW'(BLOCKS - 1)) begin
                    blk_n = block + 1'b1;
                    ts_n = wrap((SW + 1)'(tap_slot) + (SW + 1)'(D));
                end else begin
                    blk_n = '0;
                    window_done = 1'b1;
                end
            end else grp_n = group + 1'b1;
            if (window_done) begin
                of_n = out_frame + 1'b1;
                first_n = first + FW'(S);
                fs_n = wrap((SW + 1)'(first_slot) + (SW + 1)'(S));
                ts_n = fs_n;
            end
        end
        if (can_read) begin
            if (read_group == GW'(FOLD - 1)) begin
                rg_n = '0;
                rf_n = read_frame + 1'b1;
                rs_n = wrap((SW + 1)'(read_slot) + 1'b1);
            end else rg_n = read_group + 1'b1;
        end
        if (of_n == OW'(T_OUT) && rf_n == RW'(T_IN)) begin
            of_n = '0;
            first_n = '0;
            fs_n = '0;
            ts_n = '0;
            rf_n = '0;
            rs_n = '0;
        end
        if (!rst_n) begin
            rf_n = '0;
            rg_n = '0;
            rs_n = '0;
            of_n = '0;
            first_n = '0;
            fs_n = '0;
            ts_n = '0;
            blk_n = '0;
            grp_n = '0;
        end
    end

    always_ff @(posedge clk) begin
        read_frame <= rf_n;
        read_group <= rg_n;
        read_slot <= rs_n;
        out_frame <= of_n;
        first <= first_n;
        first_slot <= fs_n;
        tap_slot <= ts_n;
        block <= blk_n;
        group <= grp_n;
    end

    // ---------------------------------------------------------------- the ring
    if (TAPS == 1) begin : g_one
        logic [WB-1:0] ring [BUF*FOLD];
        logic [AW-1:0] rd_addr;
        always_ff @(posedge clk) begin
            if (can_read) ring[AW'(read_slot) * AW'(FOLD) + AW'(read_group)] <= s_in_tdata;
            rd_addr <= AW'(ts_n) * AW'(FOLD) + AW'(grp_n);
        end
        assign m_out_tdata = ring[rd_addr];
    end else begin : g_banks
        logic [GW-1:0] rd_group;  // = group, a plain register for the synchronous-read banks
        logic [WB-1:0] bank_out [BUF];
        for (genvar b = 0; b < BUF; b++) begin : g_bank
            logic [WB-1:0] bank [FOLD];
            always_ff @(posedge clk)
                if (can_read && read_slot == SW'(b)) bank[read_group] <= s_in_tdata;
            assign bank_out[b] = bank[rd_group];
        end
        always_ff @(posedge clk) rd_group <= grp_n;
        for (genvar t = 0; t < TAPS; t++) begin : g_tap
            assign m_out_tdata[t*WB +: WB] = bank_out[wrap((SW + 1)'(tap_slot) + (SW + 1)'(t * D))];
        end
    end
endmodule
