// Testbench (run by Verilator) of hls/rtl/dynamic_pool.sv: the same vectors and the same three runs as
// hls/tests/test_dynamic_pool.cpp (isolated chunks, back to back, random stalls), clocked from
// C++ (tb_dynamic_pool_main.cpp), no delays. Every output beat, tlast and {count, overflow} is
// compared with the golden vectors. Cycles run from the first input handshake to the last
// output handshake, both included. Prints, per config:
//   "cfg <i> case <k> cycles <n>"   isolated chunks
//   "cfg <i> stream_cycles <n>" and "cycles=<n>"   back to back (the line parse_verilator_cycles reads)
//   "cfg <i> errors <n>"
// Vectors ($readmemh, one element per line): FEAT_FILE [N·T·C], AB_FILE [N·T·2] (a, b),
// FRAMES_FILE [N·LMAX·C], SIDE_FILE [N] as {overflow, count}.
module tb_dynamic_pool #(
    parameter int CFG = 0,
    parameter int N = 1,
    parameter int C = 4,
    parameter int PE = 2,
    parameter int T_IN = 8,
    parameter int LMAX = 4,
    parameter int FEAT_BITS = 4,
    parameter int PRED_BITS = 16,
    parameter int OUT_BITS = 4,
    parameter int LEVELS = 15,
    parameter int LUT_BITS = 8,
    parameter int A_SHIFT = 0,
    parameter int B_SHIFT = 0,
    parameter int WEIGHT_FRAC_BITS = 8,
    parameter int MOVE_FRAC_BITS = 8,
    parameter int MOVE_INT_BITS = 1,
    parameter int PROD_SHIFT = 8,
    parameter int ACC_BITS = 20,
    parameter W_LUT_FILE = "",
    parameter M_LUT_FILE = "",
    parameter THR_FILE = "",
    parameter FEAT_FILE = "",
    parameter AB_FILE = "",
    parameter FRAMES_FILE = "",
    parameter SIDE_FILE = ""
) (
    input  logic clk,
    input  logic run,
    output logic done
);
    localparam int NF = C / PE;
    localparam int CNT_BITS = $clog2(LMAX + 1);
    localparam int F_BEATS = T_IN * NF, O_BEATS = LMAX * NF;

    logic [FEAT_BITS-1:0] feat_mem [N*T_IN*C];
    logic [PRED_BITS-1:0] ab_mem [N*T_IN*2];
    logic [OUT_BITS-1:0]  frames_mem [N*LMAX*C];
    logic [CNT_BITS:0]    side_mem [N];
    initial begin
        $readmemh(FEAT_FILE, feat_mem);
        $readmemh(AB_FILE, ab_mem);
        $readmemh(FRAMES_FILE, frames_mem);
        $readmemh(SIDE_FILE, side_mem);
    end

    logic rst_n;
    logic [PE*FEAT_BITS-1:0] s_feat_tdata;
    logic s_feat_tvalid, s_feat_tready, s_ab_tvalid, s_ab_tready;
    logic [2*PRED_BITS-1:0] s_ab_tdata;
    logic [PE*OUT_BITS-1:0] m_out_tdata;
    logic m_out_tvalid, m_out_tlast, m_out_tready;
    logic [CNT_BITS:0] m_side_tdata;
    logic m_side_tvalid, m_side_tready;

    dynamic_pool #(
        .C(C), .PE(PE), .T_IN(T_IN), .LMAX(LMAX), .FEAT_BITS(FEAT_BITS), .PRED_BITS(PRED_BITS),
        .OUT_BITS(OUT_BITS), .LEVELS(LEVELS), .LUT_BITS(LUT_BITS), .A_SHIFT(A_SHIFT), .B_SHIFT(B_SHIFT),
        .WEIGHT_FRAC_BITS(WEIGHT_FRAC_BITS), .MOVE_FRAC_BITS(MOVE_FRAC_BITS), .MOVE_INT_BITS(MOVE_INT_BITS),
        .PROD_SHIFT(PROD_SHIFT), .ACC_BITS(ACC_BITS), .W_LUT_FILE(W_LUT_FILE), .M_LUT_FILE(M_LUT_FILE),
        .THR_FILE(THR_FILE)
    ) dut (.*);

    // mode 0: isolated chunks, 1: back to back, 2: random stalls, 3: done
    int mode, k, fi, ai, oi, si, f_end, a_end, o_end, s_end, errors, idle, resets;
    longint cyc, first_in, last_out;
    logic [31:0] lfsr;
    logic f_offer, a_offer;

    always_comb begin
        s_end = mode == 0 ? k + 1 : N;
        f_end = s_end * F_BEATS;
        a_end = s_end * T_IN;
        o_end = s_end * O_BEATS;
        for (int p = 0; p < PE; p++) s_feat_tdata[p*FEAT_BITS +: FEAT_BITS] = feat_mem[fi * PE + p];
        s_ab_tdata = {ab_mem[2 * ai + 1], ab_mem[2 * ai]};
        s_feat_tvalid = rst_n && mode < 3 && fi < f_end && (mode != 2 || f_offer);
        s_ab_tvalid = rst_n && mode < 3 && ai < a_end && (mode != 2 || a_offer);
        m_out_tready = mode != 2 || lfsr[3:0] < 10;
        m_side_tready = mode != 2 || lfsr[7:4] < 10;
    end

    wire f_hs = s_feat_tvalid && s_feat_tready, a_hs = s_ab_tvalid && s_ab_tready;
    wire o_hs = m_out_tvalid && m_out_tready, s_hs = m_side_tvalid && m_side_tready;

    initial begin
        mode = 0; k = 0; fi = 0; ai = 0; oi = 0; si = 0; errors = 0; idle = 0; cyc = 0;
        first_in = -1; last_out = -1; lfsr = 32'hACE1_2468; f_offer = 0; a_offer = 0; done = 0;
        rst_n = 0; resets = 0;
    end

    always_ff @(posedge clk) begin
        if (!run) begin
            // another config's turn
        end else if (!rst_n) begin
            resets <= resets + 1;
            if (resets == 2) rst_n <= 1;
        end else if (mode < 3) begin
            longint fin, lout;
            fin = first_in;
            lout = last_out;
            cyc <= cyc + 1;
            lfsr <= {lfsr[30:0], lfsr[31] ^ lfsr[21] ^ lfsr[1] ^ lfsr[0]};
            if (!f_offer || f_hs) f_offer <= lfsr[9:8] != 0;
            if (!a_offer || a_hs) a_offer <= lfsr[11:10] != 0;
            if ((f_hs || a_hs) && fin < 0) fin = cyc;
            if (o_hs || s_hs) lout = cyc;
            if (f_hs) fi <= fi + 1;
            if (a_hs) ai <= ai + 1;
            if (o_hs) begin
                for (int p = 0; p < PE; p++)
                    if (m_out_tdata[p*OUT_BITS +: OUT_BITS] != frames_mem[oi * PE + p]) begin
                        if (errors < 10)
                            $display("cfg %0d case %0d frame %0d channel %0d: got %0d want %0d", CFG, oi / O_BEATS,
                                     (oi % O_BEATS) / NF, (oi % NF) * PE + p, m_out_tdata[p*OUT_BITS +: OUT_BITS],
                                     frames_mem[oi * PE + p]);
                        errors <= errors + 1;
                    end
                if (m_out_tlast != (oi % O_BEATS == O_BEATS - 1)) begin
                    $display("cfg %0d beat %0d: tlast %0d", CFG, oi, m_out_tlast);
                    errors <= errors + 1;
                end
                oi <= oi + 1;
            end
            if (s_hs) begin
                if (m_side_tdata != side_mem[si]) begin
                    $display("cfg %0d case %0d: side %0h want %0h", CFG, si, m_side_tdata, side_mem[si]);
                    errors <= errors + 1;
                end
                si <= si + 1;
            end
            idle <= (f_hs || a_hs || o_hs || s_hs) ? 0 : idle + 1;
            first_in <= fin;
            last_out <= lout;
            if (idle > 1000) begin
                $display("cfg %0d deadlock in mode %0d at cycle %0d (beats in %0d/%0d, %0d/%0d, out %0d/%0d, %0d/%0d)",
                         CFG, mode, cyc, fi, f_end, ai, a_end, oi, o_end, si, s_end);
                errors <= errors + 1;
                mode <= 3;
            end else if (oi + (o_hs ? 1 : 0) == o_end && si + (s_hs ? 1 : 0) == s_end) begin
                // the run (or, isolated, the chunk) is complete
                if (mode == 0) $display("cfg %0d case %0d cycles %0d", CFG, k, lout - fin + 1);
                if (mode == 1) begin
                    $display("cfg %0d stream_cycles %0d", CFG, lout - fin + 1);
                    $display("cycles=%0d", lout - fin + 1);
                end
                first_in <= -1;
                last_out <= -1;
                if (mode == 0 && k + 1 < N) begin
                    k <= k + 1;
                end else begin
                    mode <= mode + 1;
                    idle <= 0;
                    if (mode < 2) begin
                        fi <= 0; ai <= 0; oi <= 0; si <= 0;
                    end
                end
            end
        end else if (!done) begin
            // nothing more may come out after the last chunk
            if (m_out_tvalid || m_side_tvalid) begin
                $display("cfg %0d: output beat after the last chunk", CFG);
                errors <= errors + 1;
            end
            idle <= idle + 1;
            if (idle >= 2 * O_BEATS + 16) begin
                $display("cfg %0d errors %0d", CFG, errors);
                done <= 1;
            end
        end
    end
endmodule
