// The LSTM recurrence over a precomputed drive or input columns, the product and the gates fused per tile.
//
// Built by _native.py with the system's C compiler for the machine it runs on; the arithmetic is
// written with GCC's vector extensions (GCC and Clang), so one source serves AVX2, AVX-512 and NEON.
// Every step t computes, for the rows (sequences) of one thread:
//   hin_t = [a_t h_{t-1} + b_t h_{t-2}, x_t]         (the LSTM: a = 1, b = 0; nesterov-lstm: 1 + μ_t, -μ_t)
//   pre_t = e_t + hin_t Wᵀ, gates (i, f, o, g) = (σ, σ, σ, tanh)(pre_t), c_t = f c_{t-1} + i g, h_t = o tanh c_t
// with W = [U | W_x] (4H, K = H + X): X columns of input x_t may join the product (X = 0: none), e_t is
// optional (0). In reverse: ∂L/∂pre_t and gx_t = (∂L/∂pre_t) W, whose first H columns reach h_{t-1}
// with a_t and h_{t-2} with b_t, the others are ∂L/∂x_t.
// Sequences are independent, so each thread owns a range of rows for all steps: no barrier per step.
#include <pthread.h>
#include <string.h>

#ifndef V
#if defined(__AVX512F__)
#define V 16 // floats per vector
#define R 6  // rows per tile: R x 4 accumulators, plus 4 weight vectors, in 32 registers
#else
#define V 8
#define R 3 // 12 accumulators and 4 weight vectors in 16 registers
#endif
#endif
#define CB 4 // vectors of columns per tile of the backward product

typedef float vf __attribute__((vector_size(V * 4)));
typedef int vi __attribute__((vector_size(V * 4)));
typedef float vfu __attribute__((vector_size(V * 4), aligned(4)));

// n < V only in a last, partial block of units (or columns); every other caller passes the constant V,
// so the check compiles away (the tiles are inlined for it).
static inline vf load(const float *p, int n) {
    if (n == V) return *(const vfu *)p;
    vf x = {0};
    memcpy(&x, p, n * sizeof(float));
    return x;
}
static inline void store(float *p, vf x, int n) {
    if (n == V)
        *(vfu *)p = x;
    else
        memcpy(p, &x, n * sizeof(float));
}
static inline vf splat(float s) { return s - (vf){0}; } // s - 0 is s exactly, so one broadcast
static inline vf pick(vi mask, vf yes, vf no) { return (vf)(((vi)yes & mask) | ((vi)no & ~mask)); }

// Cephes' expf: 2^n e^r, |r| <= ln 2 / 2, by a degree-6 polynomial (within 2 ulp); NaN stays NaN.
static inline vf vexp(vf x) {
    x = pick(x > splat(88.3762626647949f), splat(88.3762626647949f), x);
    x = pick(x < splat(-87.3365447504f), splat(-87.3365447504f), x);
    vf t = x * 1.44269504088896341f + 12582912.0f; // round(x / ln 2) in the low mantissa bits
    vf n = t - 12582912.0f;
    vi scale = ((vi)t - 0x4B400000) << 23;
    vf r = x - n * 0.693359375f + n * 2.12194440e-4f;
    vf p = splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return (vf)((vi)p + scale);
}
static inline vf sigmoid(vf x) { return 1.0f / (1.0f + vexp(-x)); }
static inline vf vtanh(vf x) { return 2.0f * sigmoid(x + x) - 1.0f; }

typedef struct {
    long T, B, H, K; // K = H + X: the product's input width
    const float *e, *x, *wp, *up, *h_prev, *h_prev2, *c_prev, *a, *b, *g_out, *g_h_last, *g_c_last;
    const float *gates_in, *tanh_c_in, *cs_in;
    float *hs, *cs, *gates, *tanh_c, *hin, *g_pre, *g_h_first, *g_c_first, *gx, *g_x;
    long begin, end; // this thread's rows
} Job;

static void forward_input(const Job *j, long t) {
    const long B = j->B, H = j->H, K = j->K, X = K - H;
    const float *prev = t > 0 ? j->hs + (t - 1) * B * H : j->h_prev;
    const float *prev2 = t > 1 ? j->hs + (t - 2) * B * H : t == 1 ? j->h_prev : j->h_prev2;
    const float a = j->a[t], b = j->b[t];
    for (long row = j->begin; row < j->end; row++) {
        float *hin = j->hin + (t * B + row) * K;
        for (long k = 0; k < H; k++) hin[k] = a * prev[row * H + k] + b * prev2[row * H + k];
        if (X) memcpy(hin + H, j->x + (t * B + row) * X, X * sizeof(float));
    }
}

// Units [u, u + n) of rows [r0, r0 + rows) at step t.
static inline __attribute__((always_inline)) void forward_tile(const Job *j, long t, long u, int n, long r0, const int rows) {
    const long B = j->B, H = j->H, G = 4 * H, K = j->K;
    const float *c_prev = t > 0 ? j->cs + (t - 1) * B * H : j->c_prev;
    const float *hin = j->hin + t * B * K;
    vf acc[R][4];
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = j->e ? load(j->e + t * B * G + (r0 + r) * G + q * H + u, n) : splat(0.0f);
    const float *w = j->wp + u * 4 * K; // these units' columns of Wᵀ, packed [k][gate][V]
    for (long k = 0; k < K; k++, w += 4 * V) {
        vf w0 = load(w, V), w1 = load(w + V, V), w2 = load(w + 2 * V, V), w3 = load(w + 3 * V, V);
        for (int r = 0; r < rows; r++) {
            float x = hin[(r0 + r) * K + k];
            acc[r][0] += x * w0;
            acc[r][1] += x * w1;
            acc[r][2] += x * w2;
            acc[r][3] += x * w3;
        }
    }
    for (int r = 0; r < rows; r++) {
        const long row = (r0 + r) * H + u;
        vf i = sigmoid(acc[r][0]), f = sigmoid(acc[r][1]), o = sigmoid(acc[r][2]), g = vtanh(acc[r][3]);
        vf c = f * load(c_prev + row, n) + i * g, tanh_c = vtanh(c);
        if (j->gates) { // kept for the backward pass; evaluation skips it
            float *gates = j->gates + t * B * G + (r0 + r) * G + u;
            store(gates, i, n);
            store(gates + H, f, n);
            store(gates + 2 * H, o, n);
            store(gates + 3 * H, g, n);
            store(j->tanh_c + t * B * H + row, tanh_c, n);
        }
        store(j->cs + t * B * H + row, c, n);
        store(j->hs + t * B * H + row, o * tanh_c, n);
    }
}

// Whole tiles, then the rows left; n is a constant V but in a last, partial block of units.
static inline __attribute__((always_inline)) void forward_units(const Job *j, long t, long u, const int n) {
    long r0 = j->begin;
    for (; r0 + R <= j->end; r0 += R) forward_tile(j, t, u, n, r0, R);
    for (; r0 < j->end; r0++) forward_tile(j, t, u, n, r0, 1);
}

static void *forward_job(void *arg) {
    const Job *j = arg;
    for (long t = 0; t < j->T; t++) {
        forward_input(j, t);
        // Units outside, rows inside: the units' 4 K V weights stay in the L1 cache.
        long u = 0;
        for (; u + V <= j->H; u += V) forward_units(j, t, u, V);
        if (u < j->H) forward_units(j, t, u, (int)(j->H - u));
    }
    return 0;
}

// ∂L/∂pre_t of units [u, u + n) of one row, and the carry through c.
static inline __attribute__((always_inline)) void backward_units(const Job *j, long t, long row, long u, const int n) {
    const long B = j->B, H = j->H, G = 4 * H, T = j->T, K = j->K;
    const float *gx1 = j->gx + ((t + 1) % 3) * B * K + row * K + u, *gx2 = j->gx + ((t + 2) % 3) * B * K + row * K + u;
    const float *gates = j->gates_in + t * B * G + row * G + u, *tanh_c = j->tanh_c_in + t * B * H + row * H + u;
    const float *c_prev = (t > 0 ? j->cs_in + (t - 1) * B * H : j->c_prev) + row * H + u;
    float *g_pre = j->g_pre + t * B * G + row * G + u, *g_c = j->g_c_first + row * H + u;
    vf dh = load(j->g_out + t * B * H + row * H + u, n); // ∂L/∂h_t: the output's, the last step's carry,
    if (t == T - 1) dh += load(j->g_h_last + row * H + u, n); // hin_{t+1}'s, hin_{t+2}'s
    if (t + 1 < T) dh += j->a[t + 1] * load(gx1, n);
    if (t + 2 < T) dh += j->b[t + 2] * load(gx2, n);
    vf i = load(gates, n), f = load(gates + H, n), o = load(gates + 2 * H, n), g = load(gates + 3 * H, n);
    vf tc = load(tanh_c, n), dc = load(g_c, n) + dh * o * (1.0f - tc * tc);
    // σ' = σ(1 - σ), tanh' = 1 - tanh²; the o block goes by dh, the others by dc.
    store(g_pre, dc * g * i * (1.0f - i), n);
    store(g_pre + H, dc * load(c_prev, n) * f * (1.0f - f), n);
    store(g_pre + 2 * H, dh * tc * o * (1.0f - o), n);
    store(g_pre + 3 * H, dc * i * (1.0f - g * g), n);
    store(g_c, dc * f, n);
}

static void backward_gates(const Job *j, long t) {
    for (long row = j->begin; row < j->end; row++) {
        long u = 0;
        for (; u + V <= j->H; u += V) backward_units(j, t, row, u, V);
        if (u < j->H) backward_units(j, t, row, u, (int)(j->H - u));
    }
}

// gx[rows, m : m + width] = g_pre[rows] W[:, m : m + width], width = blocks V (n columns in the last vector).
static inline __attribute__((always_inline)) void backward_tile(const Job *j, const float *g_pre, float *gx, long m, const int blocks, int n, long r0,
                                 const int rows) {
    const long G = 4 * j->H, K = j->K;
    vf acc[R][CB];
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < blocks; q++) acc[r][q] = splat(0.0f);
    const float *w = j->up + m * G; // these columns of W, packed [gate row][blocks V]
    for (long k = 0; k < G; k++, w += blocks * V)
        for (int r = 0; r < rows; r++) {
            float x = g_pre[(r0 + r) * G + k];
            for (int q = 0; q < blocks; q++) acc[r][q] += x * load(w + q * V, V);
        }
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < blocks; q++) store(gx + (r0 + r) * K + m + q * V, acc[r][q], q == blocks - 1 ? n : V);
}

static inline __attribute__((always_inline)) void backward_columns(const Job *j, const float *g_pre, float *gx, long m, const int blocks, int n) {
    long r0 = j->begin;
    for (; r0 + R <= j->end; r0 += R) backward_tile(j, g_pre, gx, m, blocks, n, r0, R);
    for (; r0 < j->end; r0++) backward_tile(j, g_pre, gx, m, blocks, n, r0, 1);
}

static void *backward_job(void *arg) {
    const Job *j = arg;
    const long B = j->B, H = j->H, G = 4 * H, K = j->K, X = K - H;
    for (long row = j->begin; row < j->end; row++)
        memcpy(j->g_c_first + row * H, j->g_c_last + row * H, H * sizeof(float));
    for (long t = j->T - 1; t >= 0; t--) {
        backward_gates(j, t);
        const float *g_pre = j->g_pre + t * B * G;
        float *gx = j->gx + (t % 3) * B * K;
        long m = 0;
        for (; m + CB * V <= K; m += CB * V) backward_columns(j, g_pre, gx, m, CB, V);
        for (; m < K; m += V) backward_columns(j, g_pre, gx, m, 1, K - m < V ? (int)(K - m) : V);
        if (X)
            for (long row = j->begin; row < j->end; row++)
                memcpy(j->g_x + (t * B + row) * X, gx + row * K + H, X * sizeof(float));
    }
    // h_prev enters hin_0 with a_0 and hin_1 with b_1.
    const float *gx0 = j->gx, *gx1 = j->gx + B * K;
    for (long row = j->begin; row < j->end; row++)
        for (long k = 0; k < H; k++)
            j->g_h_first[row * H + k] = j->a[0] * gx0[row * K + k] + (j->T > 1 ? j->b[1] * gx1[row * K + k] : 0.0f);
    return 0;
}

enum { MAX_THREADS = 256 };

static void run(Job *job, long threads, void *(*work)(void *)) {
    threads = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
    long per = (job->B + threads - 1) / threads;
    per = (per + R - 1) / R * R; // whole tiles per thread
    pthread_t ids[MAX_THREADS];
    Job jobs[MAX_THREADS];
    long count = 0;
    for (long begin = 0; begin < job->B; begin += per, count++) {
        jobs[count] = *job;
        jobs[count].begin = begin;
        jobs[count].end = begin + per < job->B ? begin + per : job->B;
    }
    long started = 1;
    for (; started < count; started++)
        if (pthread_create(&ids[started], 0, work, &jobs[started]) != 0) break;
    work(&jobs[0]);
    for (long i = 1; i < started; i++) pthread_join(ids[i], 0);
    for (long i = started; i < count; i++) work(&jobs[i]); // threads the system refused: run here
}

int lstm_vector_width(void) { return V; }
int lstm_column_block(void) { return CB * V; }

// T steps from (h_prev, h_prev2, c_prev); e and x may be NULL (none), gates and tanh_c too (nothing kept
// for a backward pass); hin is (T, B, K).
void lstm_forward(long T, long B, long H, long K, const float *e, const float *x, const float *wp, const float *h_prev,
                  const float *h_prev2, const float *c_prev, const float *a, const float *b, float *hs, float *cs,
                  float *gates, float *tanh_c, float *hin, long threads) {
    Job job = {.T = T, .B = B, .H = H, .K = K, .e = e, .x = x, .wp = wp, .h_prev = h_prev, .h_prev2 = h_prev2,
               .c_prev = c_prev, .a = a, .b = b, .hs = hs, .cs = cs, .gates = gates, .tanh_c = tanh_c, .hin = hin};
    run(&job, threads, forward_job);
}

// All T steps in reverse: g_pre (T, B, 4H), ∂L/∂x (T, B, K - H; NULL if K = H), and ∂L/∂h_prev, ∂L/∂c_prev;
// gx is (3, B, K) scratch, whose slot 0 holds (∂L/∂pre_0) W at the end.
void lstm_backward(long T, long B, long H, long K, const float *gates, const float *tanh_c, const float *cs,
                   const float *c_prev, const float *up, const float *a, const float *b, const float *g_out,
                   const float *g_h_last, const float *g_c_last, float *g_pre, float *g_x, float *g_h_first,
                   float *g_c_first, float *gx, long threads) {
    Job job = {.T = T, .B = B, .H = H, .K = K, .gates_in = gates, .tanh_c_in = tanh_c, .cs_in = cs, .c_prev = c_prev,
               .up = up, .a = a, .b = b, .g_out = g_out, .g_h_last = g_h_last, .g_c_last = g_c_last,
               .g_pre = g_pre, .g_x = g_x, .g_h_first = g_h_first, .g_c_first = g_c_first, .gx = gx};
    run(&job, threads, backward_job);
}
