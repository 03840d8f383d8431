// threshold_unit: PE multi-threshold lanes (hls/common.h threshold_count / threshold_search), the
// shared back end of the thresholding, mvau and vvau twins. A pipeline behind one enable `en` (the
// twin's whole pipeline moves or holds together): a value vector and its channel fold `in_nf` go
// in, ACT_BIAS + (thresholds of fold in_nf the value reaches) comes out DEPTH enabled cycles later.
// Values and thresholds are signed and compared at the wider of their widths (a threshold may sit
// one past the value range).
//
// THR_STYLE 0 (parallel): one memory word per fold holding its PE x LEVELS thresholds (lane p,
// level l at bits (p*LEVELS + l)*THR_BITS), read whole; every level compared at once. DEPTH 2.
// THR_STYLE 1 (search): the binary search of threshold_search, one stage per clock. Stage k
// (k = 0 first, s = D-1-k) probes level j*2^(s+1) + 2^s - 1, j = the count so far / 2^(s+1): its
// memory holds those NF*2^k thresholds per lane (word nf*2^k + j, lane p at bits p*THR_BITS; 0
// past the last level, where `probe < LEVELS` fails), in file {THRESHOLDS, "<k>.hex"}; each lane
// reads its own copy, as lanes' counts diverge. D = clog2(LEVELS + 1) stages, DEPTH D + 1.
module threshold_unit #(
    parameter int PE = 1,
    parameter int NF = 1,
    parameter int LEVELS = 1,
    parameter int ACT_BIAS = 0,
    parameter int V_BITS = 8,
    parameter int THR_BITS = 8,
    parameter int O_BITS = 4,
    parameter int THR_STYLE = 0,
    parameter THRESHOLDS = "thresholds.hex",
    parameter int NFW = NF > 1 ? $clog2(NF) : 1
) (
    input  logic                clk,
    input  logic                rst_n,
    input  logic                en,
    input  logic                in_valid,
    input  logic [NFW-1:0]      in_nf,
    input  logic [PE*V_BITS-1:0] in_v,
    output logic                out_valid,
    output logic [PE*O_BITS-1:0] out_y
);
    localparam int D = $clog2(LEVELS + 1);
    localparam int CB = D > 0 ? D : 1;  // count bits: up to 2^D - 1 >= LEVELS

    if (THR_STYLE == 0) begin : parallel
        logic [PE*LEVELS*THR_BITS-1:0] mem [NF];
        initial $readmemh(THRESHOLDS, mem);
        logic [PE*LEVELS*THR_BITS-1:0] row;
        logic [PE*V_BITS-1:0] v;
        logic valid;
        logic [PE*O_BITS-1:0] y;
        always_ff @(posedge clk) begin
            if (en) begin
                row <= mem[in_nf];
                v <= in_v;
            end
            if (!rst_n) valid <= 1'b0;
            else if (en) valid <= in_valid;
        end
        always_comb begin
            for (int p = 0; p < PE; p++) begin
                logic [CB-1:0] count;
                count = '0;
                for (int l = 0; l < LEVELS; l++)
                    count = count + CB'($signed(v[p*V_BITS +: V_BITS]) >= $signed(row[(p*LEVELS + l)*THR_BITS +: THR_BITS]));
                y[p*O_BITS +: O_BITS] = O_BITS'(ACT_BIAS) + O_BITS'(count);
            end
        end
        always_ff @(posedge clk) begin
            if (en) out_y <= y;
            if (!rst_n) out_valid <= 1'b0;
            else if (en) out_valid <= valid;
        end
    end else begin : search
        // Stage k's registers (flattened): the value, fold, count before its compare, its probe.
        logic [D*PE*V_BITS-1:0] v;
        logic [D*NFW-1:0] nf;
        logic [D-1:0] valid;
        logic [D*PE*CB-1:0] count;      // before stage k's compare
        logic [D*PE*THR_BITS-1:0] thr;  // stage k's probe threshold per lane
        logic [D*PE*CB-1:0] next;       // after stage k's compare

        for (genvar k = 0; k < D; k++) begin : stage
            localparam int S = D - 1 - k;
            for (genvar p = 0; p < PE; p++) begin : lane
                wire [CB-1:0] c = count[(k*PE + p)*CB +: CB];
                wire [CB-1:0] probe = c + CB'((1 << S) - 1);
                wire hit = probe < LEVELS && $signed(v[(k*PE + p)*V_BITS +: V_BITS]) >= $signed(thr[(k*PE + p)*THR_BITS +: THR_BITS]);
                assign next[(k*PE + p)*CB +: CB] = c + (hit ? CB'(1 << S) : '0);
            end
            if (k == 0) begin : fold  // one address for every lane: the fold
                logic [PE*THR_BITS-1:0] rom [NF];
                initial $readmemh({THRESHOLDS, "0.hex"}, rom);
                logic [PE*THR_BITS-1:0] word;
                always_ff @(posedge clk) if (en) word <= rom[in_nf];
                assign thr[0 +: PE*THR_BITS] = word;
            end else begin : probe
                for (genvar p = 0; p < PE; p++) begin : lane  // word nf*2^k + j: lane p's own j
                    logic [PE*THR_BITS-1:0] rom [NF << k];
                    initial $readmemh({THRESHOLDS, 8'(48 + k), ".hex"}, rom);
                    wire [CB-1:0] c = next[((k - 1)*PE + p)*CB +: CB];
                    wire [NFW+k-1:0] addr = {nf[(k - 1)*NFW +: NFW], k'(c >> (S + 1))};
                    logic [PE*THR_BITS-1:0] word;
                    always_ff @(posedge clk) if (en) word <= rom[addr];
                    assign thr[(k*PE + p)*THR_BITS +: THR_BITS] = word[p*THR_BITS +: THR_BITS];
                end
            end
        end
        always_ff @(posedge clk) begin
            if (en) begin
                v[0 +: PE*V_BITS] <= in_v;
                nf[0 +: NFW] <= in_nf;
                count[0 +: PE*CB] <= '0;
                for (int k = 1; k < D; k++) begin
                    v[k*PE*V_BITS +: PE*V_BITS] <= v[(k - 1)*PE*V_BITS +: PE*V_BITS];
                    nf[k*NFW +: NFW] <= nf[(k - 1)*NFW +: NFW];
                    count[k*PE*CB +: PE*CB] <= next[(k - 1)*PE*CB +: PE*CB];
                end
            end
            if (!rst_n) valid <= '0;
            else if (en) valid <= D'({valid, in_valid});  // shift in at stage 0
        end
        always_ff @(posedge clk) begin
            if (en)
                for (int p = 0; p < PE; p++)
                    out_y[p*O_BITS +: O_BITS] <= O_BITS'(ACT_BIAS) + O_BITS'(next[((D - 1)*PE + p)*CB +: CB]);
            if (!rst_n) out_valid <= 1'b0;
            else if (en) out_valid <= valid[D - 1];
        end
    end
endmodule
