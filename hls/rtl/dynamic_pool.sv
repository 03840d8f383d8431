// dynamic_pool: the SystemVerilog twin of hls/dynamic_pool.h (same state, same passes, same
// cycle model; read that header first). One clock = one step() of the C++ kernel: a cycle
// either does the whole step or nothing, so the handshakes of a step happen together.
//
// AXI-Stream ports (tdata lanes little end first: lane p at [p*W +: W]):
//   s_feat  PE features of FEAT_BITS per beat, C/PE beats per input frame
//   s_ab    {b, a}: a (importance) in [PRED_BITS-1:0], b (move) above, signed, one beat per frame
//   m_out   PE outputs of OUT_BITS per beat, LMAX·C/PE beats per chunk; tlast on the chunk's last
//   m_side  {overflow, count}: count in [CNT_BITS-1:0], overflow at [CNT_BITS], one beat per chunk,
//           valid in the cycle of the chunk's last step
// tready of an input depends on the other streams' tvalid/tready (a step needs all its beats);
// no tvalid depends on its own stream's tready. m_out_tvalid and m_side_tvalid look at each
// other's tready in the chunk's last cycle: put a FIFO (registered ready) behind at least one.
//
// Tables: W_LUT_FILE (2^LUT_BITS words of WEIGHT_FRAC_BITS), M_LUT_FILE (2^LUT_BITS words of
// MOVE_FRAC_BITS + MOVE_INT_BITS), THR_FILE (PE·(C/PE)·LEVELS words of THR_BITS, entry
// (p·NF + nf)·LEVELS + l for channel nf·PE + p), all $readmemh. rst_n is synchronous, active low.
module dynamic_pool #(
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
    parameter int THR_BITS = ACC_BITS + 1,
    parameter W_LUT_FILE = "w_lut.hex",
    parameter M_LUT_FILE = "m_lut.hex",
    parameter THR_FILE = "thresholds.hex",
    // derived (not to be overridden)
    parameter int CNT_BITS = $clog2(LMAX + 1)
) (
    input  logic                      clk,
    input  logic                      rst_n,
    input  logic [PE*FEAT_BITS-1:0]   s_feat_tdata,
    input  logic                      s_feat_tvalid,
    output logic                      s_feat_tready,
    input  logic [2*PRED_BITS-1:0]    s_ab_tdata,
    input  logic                      s_ab_tvalid,
    output logic                      s_ab_tready,
    output logic [PE*OUT_BITS-1:0]    m_out_tdata,
    output logic                      m_out_tvalid,
    output logic                      m_out_tlast,
    input  logic                      m_out_tready,
    output logic [CNT_BITS:0]         m_side_tdata,
    output logic                      m_side_tvalid,
    input  logic                      m_side_tready
);
    localparam int NF = C / PE;
    localparam int F = MOVE_FRAC_BITS;
    localparam int MOVE_BITS = F + MOVE_INT_BITS;
    localparam int POS_BITS = F + CNT_BITS;
    localparam int PSUM_BITS = (POS_BITS > MOVE_BITS ? POS_BITS : MOVE_BITS) + 1;
    localparam int JW = CNT_BITS + 1;                      // frame indices up to LMAX + 1
    localparam int WF_BITS = WEIGHT_FRAC_BITS + FEAT_BITS;
    localparam int PROD_BITS = WF_BITS + F + 1;            // w·f·(2^F − φ), exact
    localparam int TERM_BITS = PROD_BITS > PROD_SHIFT ? PROD_BITS - PROD_SHIFT : 1;
    localparam int SUM_BITS = (ACC_BITS > TERM_BITS ? ACC_BITS : TERM_BITS) + 1;
    localparam int NFW = NF > 1 ? $clog2(NF) : 1;
    localparam int TW = T_IN > 1 ? $clog2(T_IN) : 1;
    localparam int XW = (PRED_BITS > LUT_BITS ? PRED_BITS : LUT_BITS) + 1;
    localparam logic [POS_BITS-1:0] CAP = POS_BITS'(LMAX) << F;
    localparam logic [ACC_BITS-1:0] ACC_MAX = {ACC_BITS{1'b1}};
    localparam logic signed [XW-1:0] IDX_LO = -(2 ** (LUT_BITS - 1));
    localparam logic signed [XW-1:0] IDX_HI = 2 ** (LUT_BITS - 1) - 1;

    // ---------------------------------------------------------------- tables
    logic [WEIGHT_FRAC_BITS-1:0] w_lut [2**LUT_BITS];
    logic [MOVE_BITS-1:0]        m_lut [2**LUT_BITS];
    logic [THR_BITS-1:0]         thr   [PE*NF*LEVELS];
    initial begin
        $readmemh(W_LUT_FILE, w_lut);
        $readmemh(M_LUT_FILE, m_lut);
        $readmemh(THR_FILE, thr);
    end

    // clip(acc >>> shift, −2^(K−1), 2^(K−1) − 1) + 2^(K−1)
    function automatic logic [LUT_BITS-1:0] lut_index(input logic [PRED_BITS-1:0] acc, input int shift);
        logic signed [XW-1:0] s;
        s = $signed({{(XW - PRED_BITS){acc[PRED_BITS-1]}}, acc}) >>> shift;
        if (s < IDX_LO) lut_index = '0;
        else if (s > IDX_HI) lut_index = '1;
        else lut_index = LUT_BITS'(s - IDX_LO);
    endfunction

    // ---------------------------------------------------------------- state
    // The window as two memories of one word per fold (LUTRAM, not reset); a word not written
    // since reset reads as zero, so a reset clears the window without a pass over it.
    logic [PE*ACC_BITS-1:0] acc0 [NF];   // frame cur
    logic [PE*ACC_BITS-1:0] acc1 [NF];   // frame cur + 1
    logic [NF-1:0]               live;
    logic                        ab_full;
    logic [WEIGHT_FRAC_BITS-1:0] w_next, w_cur;
    logic [MOVE_BITS-1:0]        m_next;
    logic                        in_frame, emit_last, flushing;
    logic [F-1:0]                phi_cur;
    logic [JW-1:0]               j_cur, skip, cur;
    logic [POS_BITS-1:0]         pos;
    logic [NFW-1:0]              nf;
    logic [TW-1:0]               frame;

    // ---------------------------------------------------------------- this cycle's pass
    logic                 start, emit_e, emit_only, reads, writes, last_fold, chunk_end;
    logic                 starved, blocked, fire, consume, load;
    logic [PSUM_BITS-1:0] psum;
    logic [POS_BITS-1:0]  pos_new;
    logic [JW-1:0]        j_new, d_new, skip_e, j_e;
    logic [WEIGHT_FRAC_BITS-1:0] w_e;
    logic [F-1:0]         phi_e;
    logic                 g0, g1;

    always_comb begin
        start = !flushing && !in_frame;
        psum = pos + m_next;
        pos_new = psum > CAP ? CAP : psum[POS_BITS-1:0];
        j_new = JW'(pos_new >> F);
        d_new = j_new - cur;
        skip_e = start ? (d_new >= 2 ? d_new - 1 : '0) : skip;
        emit_e = start ? d_new >= 1 : emit_last;
        j_e = start ? j_new : j_cur;
        w_e = start ? w_next : w_cur;
        phi_e = start ? pos_new[F-1:0] : phi_cur;
        emit_only = flushing || skip_e != 0;
        reads = !emit_only;
        writes = emit_only || emit_e;
        last_fold = nf == NFW'(NF - 1);
        chunk_end = last_fold && (flushing ? cur == JW'(LMAX - 1)
                                           : (reads && frame == TW'(T_IN - 1) && j_e == JW'(LMAX)));
        g0 = j_e < JW'(LMAX);
        g1 = j_e + 1 < LMAX;
        starved = (start && !ab_full) || (reads && !s_feat_tvalid);
        blocked = (writes && !m_out_tready) || (chunk_end && !m_side_tready);
        fire = !starved && !blocked;
        consume = fire && start;
        load = (!ab_full || consume) && s_ab_tvalid;
    end

    assign s_feat_tready = reads && !(start && !ab_full) && !blocked;
    assign s_ab_tready = !ab_full || consume;
    assign m_out_tvalid = writes && !starved && !(chunk_end && !m_side_tready);
    assign m_out_tlast = last_fold && cur == JW'(LMAX - 1);
    assign m_side_tvalid = chunk_end && !starved && !(writes && !m_out_tready);
    assign m_side_tdata = (j_e + 2 > LMAX) ? {1'b1, CNT_BITS'(LMAX)} : {1'b0, CNT_BITS'(j_e + 2)};

    // ---------------------------------------------------------------- lanes
    logic [PE*ACC_BITS-1:0] new0, new1;
    always_comb begin
        for (int p = 0; p < PE; p++) begin
            logic [ACC_BITS-1:0] a0, a1, b0, b1;
            logic [WF_BITS-1:0] wf;
            logic [PROD_BITS-1:0] p0, p1;
            logic [TERM_BITS-1:0] t0, t1;
            logic [SUM_BITS-1:0] s0, s1;
            logic [OUT_BITS-1:0] y;
            a0 = live[nf] ? acc0[nf][p*ACC_BITS +: ACC_BITS] : '0;
            a1 = live[nf] ? acc1[nf][p*ACC_BITS +: ACC_BITS] : '0;
            y = '0;
            for (int l = 0; l < LEVELS; l++)
                y = y + OUT_BITS'(a0 >= thr[(p * NF + nf) * LEVELS + l]);
            m_out_tdata[p*OUT_BITS +: OUT_BITS] = y;
            wf = w_e * s_feat_tdata[p*FEAT_BITS +: FEAT_BITS];
            p0 = wf * ((PROD_BITS'(1) << F) - phi_e);
            p1 = wf * phi_e;
            t0 = g0 ? TERM_BITS'(p0 >> PROD_SHIFT) : '0;
            t1 = g1 ? TERM_BITS'(p1 >> PROD_SHIFT) : '0;
            b0 = emit_e ? a1 : a0;
            b1 = emit_e ? '0 : a1;
            s0 = b0 + t0;
            s1 = b1 + t1;
            if (emit_only) begin
                new0[p*ACC_BITS +: ACC_BITS] = a1;
                new1[p*ACC_BITS +: ACC_BITS] = '0;
            end else begin
                new0[p*ACC_BITS +: ACC_BITS] = s0 > SUM_BITS'(ACC_MAX) ? ACC_MAX : s0[ACC_BITS-1:0];
                new1[p*ACC_BITS +: ACC_BITS] = s1 > SUM_BITS'(ACC_MAX) ? ACC_MAX : s1[ACC_BITS-1:0];
            end
        end
    end

    // ---------------------------------------------------------------- registers
    always_ff @(posedge clk) begin
        if (rst_n && fire) begin
            acc0[nf] <= new0;
            acc1[nf] <= new1;
        end
    end

    always_ff @(posedge clk) begin
        if (!rst_n) begin
            ab_full <= 1'b0;
            w_next <= '0;
            m_next <= '0;
            in_frame <= 1'b0;
            emit_last <= 1'b0;
            flushing <= 1'b0;
            w_cur <= '0;
            phi_cur <= '0;
            j_cur <= '0;
            skip <= '0;
            cur <= '0;
            pos <= '0;
            nf <= '0;
            frame <= '0;
            live <= '0;
        end else begin
            if (fire) begin
                live[nf] <= 1'b1;
                if (start) begin
                    in_frame <= 1'b1;
                    pos <= pos_new;
                    w_cur <= w_e;
                    phi_cur <= phi_e;
                    j_cur <= j_e;
                    skip <= skip_e;
                    emit_last <= emit_e;
                end
                if (last_fold) begin
                    nf <= '0;
                    if (emit_only) begin
                        cur <= cur + 1;
                        if (!flushing) skip <= skip_e - 1;
                    end else begin
                        cur <= j_e;
                        in_frame <= 1'b0;
                        if (frame == TW'(T_IN - 1)) begin
                            frame <= '0;
                            flushing <= 1'b1;
                        end else begin
                            frame <= frame + 1;
                        end
                    end
                    if (chunk_end) begin
                        flushing <= 1'b0;
                        cur <= '0;
                        pos <= '0;
                    end
                end else begin
                    nf <= nf + 1;
                end
            end
            if (load) begin
                w_next <= w_lut[lut_index(s_ab_tdata[PRED_BITS-1:0], A_SHIFT)];
                m_next <= m_lut[lut_index(s_ab_tdata[2*PRED_BITS-1:PRED_BITS], B_SHIFT)];
                ab_full <= 1'b1;
            end else if (consume) begin
                ab_full <= 1'b0;
            end
        end
    end
endmodule
