/*
 * receiver: a lean epoll WebSocket client for fan-out benchmarks.
 *
 * Opens N player connections (plus an optional host connection), does the WebSocket
 * upgrade with a fixed request and a fixed Sec-WebSocket-Key (verifying the 101 and
 * the Sec-WebSocket-Accept for that key), optionally sends one masked join frame per
 * player and waits for its first reply frame, then runs "rounds": for each line of the
 * script file (TRIGGER<TAB>MATCH) it sends TRIGGER on the host connection and waits
 * until every open player has received a text frame containing MATCH, recording the
 * monotonic time of the trigger and of the first and last such receipt.  It answers
 * pings with pongs and records close codes.  Output: JSON lines on stdout.
 *
 * Its own CPU time (getrusage) is reported per round and overall, so results can show
 * that the receiver was not the bottleneck.  Timestamps are CLOCK_MONOTONIC in ns, the
 * same clock as Python's time.monotonic_ns().
 *
 * Usage:
 *   receiver --port P [--host 127.0.0.1] [--path /ws] -n N [--window 256]
 *            [--join '{"type":"join","payload":{"quizId":"Q","name":"p{i}"}}']
 *            [--join-match '"type":"joined"']
 *            [--host-join '{"type":"join","payload":{"quizId":"Q","hostToken":"T"}}']
 *            [--script FILE] [--wait-stdin] [--round-timeout-ms 20000] [--gap-ms 100]
 *            [--connect-timeout-ms 120000]
 *
 * With --wait-stdin it prints the "connected" line and waits for one line on stdin
 * before the rounds (the harness measures the server's memory in between), and again
 * before closing ("done" comes first).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 1024
#define RBUF (256 * 1024)
#define MAX_ROUNDS 1000
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
/* base64(sha1(WS_KEY + GUID)): the accept value for the fixed key (RFC 6455 example) */
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

enum { S_CONNECTING, S_HANDSHAKE, S_JOINING, S_OPEN, S_CLOSED };

typedef struct {
    int fd;
    int state;
    int is_host;
    int idx;
    uint8_t *buf; /* unparsed bytes (partial frame or partial HTTP response) */
    size_t len, cap;
    uint8_t *out; /* unsent bytes */
    size_t out_len;
    int hit_round; /* last round this player matched */
} conn_t;

typedef struct {
    char *trigger;
    char *match;
    int64_t t_trigger, t_first, t_last, t_done;
    long receivers, frames, bytes;
    double cpu_ms;
    int timed_out;
} round_t;

static int ep;
static conn_t *conns;
static conn_t host;
static int n_players = 0, window_sz = 256;
static const char *opt_host = "127.0.0.1", *opt_path = "/ws";
static int opt_port = 0;
static char *join_tmpl = NULL, *host_join = NULL, *join_match = "\"type\":\"joined\"";
static int inflight = 0, next_conn = 0, n_open = 0, n_failed = 0, n_closed_after = 0;
static long close_codes[5000];
static long close_other = 0, resets = 0, pings = 0, frames_total = 0, bytes_total = 0;
static round_t rounds[MAX_ROUNDS];
static int n_rounds = 0, cur_round = -1;
static long round_hits = 0;
static struct sockaddr_in addr;
static char request[1024];
static size_t request_len;
static int join_failed_reasons = 0;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double cpu_ms(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static void die(const char *msg) {
    fprintf(stderr, "receiver: %s: %s\n", msg, strerror(errno));
    exit(2);
}

static void buf_append(uint8_t **b, size_t *len, size_t *cap, const uint8_t *data, size_t n) {
    if (*len + n > *cap) {
        size_t nc = *cap ? *cap : 1024;
        while (nc < *len + n) nc *= 2;
        *b = realloc(*b, nc);
        if (!*b) die("realloc");
        *cap = nc;
    }
    memcpy(*b + *len, data, n);
    *len += n;
}

static void conn_close(conn_t *c) {
    if (c->state == S_CLOSED) return;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->state == S_OPEN && !c->is_host) {
        n_open--;
        n_closed_after++;
    } else if (!c->is_host && c->state != S_OPEN) {
        inflight--;
        n_failed++;
    }
    c->state = S_CLOSED;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
    free(c->out);
    c->out = NULL;
    c->out_len = 0;
}

static void conn_write(conn_t *c, const uint8_t *data, size_t n) {
    if (c->state == S_CLOSED) return;
    if (c->out_len == 0) {
        ssize_t w = send(c->fd, data, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN) return; /* the read side sees the error */
            w = 0;
        }
        if ((size_t)w == n) return;
        data += w;
        n -= w;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
    size_t cap = c->out_len;
    uint8_t *o = c->out;
    o = realloc(o, c->out_len + n);
    if (!o) die("realloc");
    memcpy(o + c->out_len, data, n);
    c->out = o;
    c->out_len += n;
    (void)cap;
}

/* A masked client frame (opcode op) holding payload. */
static void send_frame(conn_t *c, int op, const uint8_t *payload, size_t n) {
    uint8_t stack[2048];
    uint8_t *f = n + 14 <= sizeof stack ? stack : malloc(n + 14);
    size_t h = 0;
    static uint32_t seed = 0x9e3779b9u;
    f[h++] = 0x80 | op;
    if (n < 126) {
        f[h++] = 0x80 | n;
    } else if (n < 65536) {
        f[h++] = 0x80 | 126;
        f[h++] = n >> 8;
        f[h++] = n & 0xff;
    } else {
        f[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) f[h++] = ((uint64_t)n >> (8 * i)) & 0xff;
    }
    seed = seed * 1664525u + 1013904223u;
    uint8_t mask[4] = {seed >> 24, seed >> 16, seed >> 8, seed};
    memcpy(f + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < n; i++) f[h + i] = payload[i] ^ mask[i & 3];
    conn_write(c, f, h + n);
    if (f != stack) free(f);
}

static void send_text(conn_t *c, const char *text) { send_frame(c, 1, (const uint8_t *)text, strlen(text)); }

static char *replace_i(const char *tmpl, int i) {
    static char out[4096];
    char num[16];
    snprintf(num, sizeof num, "%d", i);
    const char *p = strstr(tmpl, "{i}");
    if (!p) {
        snprintf(out, sizeof out, "%s", tmpl);
        return out;
    }
    snprintf(out, sizeof out, "%.*s%s%s", (int)(p - tmpl), tmpl, num, p + 3);
    return out;
}

static void start_connect(conn_t *c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->state = S_CONNECTING;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) die("connect");
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
}

static void fill_window(void) {
    while (next_conn < n_players && inflight < window_sz) {
        conn_t *c = &conns[next_conn];
        c->idx = next_conn++;
        inflight++;
        start_connect(c);
    }
}

static void on_open(conn_t *c) {
    /* upgraded (and joined, if asked) */
    c->state = S_OPEN;
    if (!c->is_host) {
        inflight--;
        n_open++;
    }
}

static void on_text(conn_t *c, const uint8_t *p, size_t n, int64_t t) {
    if (c->state == S_JOINING) {
        if (memmem(p, n, join_match, strlen(join_match))) {
            on_open(c);
        } else {
            if (join_failed_reasons < 3) fprintf(stderr, "receiver: join reply: %.*s\n", (int)(n > 300 ? 300 : n), p);
            join_failed_reasons++;
            conn_close(c);
        }
        return;
    }
    if (c->is_host || cur_round < 0) return;
    round_t *r = &rounds[cur_round];
    r->frames++;
    r->bytes += n;
    if (c->hit_round != cur_round && memmem(p, n, r->match, strlen(r->match))) {
        c->hit_round = cur_round;
        if (!r->receivers) r->t_first = t;
        r->t_last = t;
        r->receivers++;
        round_hits++;
    }
}

/* Parse complete frames from p[0..n); returns bytes consumed. */
static size_t parse_frames(conn_t *c, const uint8_t *p, size_t n, int64_t t) {
    size_t off = 0;
    while (n - off >= 2 && c->state != S_CLOSED) {
        const uint8_t *f = p + off;
        int op = f[0] & 0x0f;
        int masked = f[1] & 0x80;
        uint64_t len = f[1] & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (n - off < 4) break;
            len = ((uint64_t)f[2] << 8) | f[3];
            h = 4;
        } else if (len == 127) {
            if (n - off < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = (len << 8) | f[2 + i];
            h = 10;
        }
        if (masked) h += 4; /* servers do not mask; tolerate it anyway */
        if (n - off < h + len) break;
        const uint8_t *payload = f + h;
        frames_total++;
        bytes_total += len;
        if (op == 1 || op == 0 || op == 2) {
            on_text(c, payload, len, t);
        } else if (op == 9) { /* ping -> pong */
            pings++;
            send_frame(c, 10, payload, len);
        } else if (op == 8) { /* close: record, answer, drop */
            int code = len >= 2 ? (payload[0] << 8) | payload[1] : 1005;
            if (code >= 0 && code < 5000) close_codes[code]++;
            else close_other++;
            send_frame(c, 8, payload, len >= 2 ? 2 : 0);
            conn_close(c);
            return n;
        }
        off += h + len;
    }
    return off;
}

static void on_handshake_bytes(conn_t *c, int64_t t) {
    uint8_t *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end) {
        if (c->len > 16384) conn_close(c);
        return;
    }
    size_t hlen = end - c->buf + 4;
    if (c->len < 12 || memcmp(c->buf, "HTTP/1.1 101", 12) != 0 || !memmem(c->buf, hlen, WS_ACCEPT, strlen(WS_ACCEPT))) {
        if (join_failed_reasons < 3) fprintf(stderr, "receiver: upgrade refused: %.*s\n", (int)(hlen > 200 ? 200 : hlen), c->buf);
        join_failed_reasons++;
        conn_close(c);
        return;
    }
    memmove(c->buf, c->buf + hlen, c->len - hlen);
    c->len -= hlen;
    const char *join = c->is_host ? host_join : (join_tmpl ? replace_i(join_tmpl, c->idx) : NULL);
    if (join) {
        c->state = S_JOINING;
        send_text(c, join);
    } else {
        on_open(c);
    }
    if (c->len) {
        size_t used = parse_frames(c, c->buf, c->len, t);
        if (c->state != S_CLOSED) {
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
        }
    }
}

static uint8_t rbuf[RBUF];

static void on_readable(conn_t *c) {
    for (;;) {
        ssize_t r = recv(c->fd, rbuf, RBUF, 0);
        int64_t t = now_ns();
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            if (c->state == S_OPEN) resets++;
            conn_close(c);
            return;
        }
        if (r < 0) return;
        if (c->state == S_HANDSHAKE) {
            buf_append(&c->buf, &c->len, &c->cap, rbuf, r);
            on_handshake_bytes(c, t);
        } else if (c->len) {
            buf_append(&c->buf, &c->len, &c->cap, rbuf, r);
            size_t used = parse_frames(c, c->buf, c->len, t);
            if (c->state == S_CLOSED) return;
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
        } else {
            size_t used = parse_frames(c, rbuf, r, t);
            if (c->state == S_CLOSED) return;
            if (used < (size_t)r) buf_append(&c->buf, &c->len, &c->cap, rbuf + used, r - used);
        }
        if (r < RBUF) return;
    }
}

static void on_writable(conn_t *c) {
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            if (join_failed_reasons < 3) fprintf(stderr, "receiver: connect: %s\n", strerror(err));
            join_failed_reasons++;
            conn_close(c);
            return;
        }
        c->state = S_HANDSHAKE;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        conn_write(c, (const uint8_t *)request, request_len);
        return;
    }
    if (c->out_len) {
        ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (w > 0) {
            memmove(c->out, c->out + w, c->out_len - w);
            c->out_len -= w;
        }
    }
    if (!c->out_len) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
}

static int stdin_line_ready = 0;

static void poll_once(int timeout_ms) {
    static struct epoll_event evs[MAX_EVENTS];
    int k = epoll_wait(ep, evs, MAX_EVENTS, timeout_ms);
    for (int i = 0; i < k; i++) {
        if (evs[i].data.ptr == NULL) { /* stdin */
            char line[256];
            if (!fgets(line, sizeof line, stdin)) epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
            stdin_line_ready = 1;
            continue;
        }
        conn_t *c = evs[i].data.ptr;
        if (c->state == S_CLOSED) continue;
        if (evs[i].events & EPOLLOUT) on_writable(c);
        if (c->state != S_CLOSED && evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    }
}

static void wait_stdin(void) {
    stdin_line_ready = 0;
    while (!stdin_line_ready) poll_once(100);
}

static void load_script(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) die("open script");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0 && n_rounds < MAX_ROUNDS) {
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        rounds[n_rounds].trigger = strdup(line);
        rounds[n_rounds].match = strdup(tab + 1);
        n_rounds++;
    }
    free(line);
    fclose(f);
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') putchar('\\');
        putchar(*s);
    }
    putchar('"');
}

int main(int argc, char **argv) {
    const char *script = NULL;
    int wait_in = 0, round_timeout_ms = 20000, gap_ms = 100, connect_timeout_ms = 120000;
    static struct option opts[] = {
        {"host", 1, 0, 'H'}, {"port", 1, 0, 'p'}, {"path", 1, 0, 'P'}, {"n", 1, 0, 'n'},
        {"window", 1, 0, 'w'}, {"join", 1, 0, 'j'}, {"join-match", 1, 0, 'm'}, {"host-join", 1, 0, 'J'},
        {"script", 1, 0, 's'}, {"wait-stdin", 0, 0, 'W'}, {"round-timeout-ms", 1, 0, 't'},
        {"gap-ms", 1, 0, 'g'}, {"connect-timeout-ms", 1, 0, 'c'}, {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "H:p:P:n:w:j:m:J:s:Wt:g:c:", opts, NULL)) != -1) {
        switch (o) {
        case 'H': opt_host = optarg; break;
        case 'p': opt_port = atoi(optarg); break;
        case 'P': opt_path = optarg; break;
        case 'n': n_players = atoi(optarg); break;
        case 'w': window_sz = atoi(optarg); break;
        case 'j': join_tmpl = optarg; break;
        case 'm': join_match = optarg; break;
        case 'J': host_join = optarg; break;
        case 's': script = optarg; break;
        case 'W': wait_in = 1; break;
        case 't': round_timeout_ms = atoi(optarg); break;
        case 'g': gap_ms = atoi(optarg); break;
        case 'c': connect_timeout_ms = atoi(optarg); break;
        default: fprintf(stderr, "usage: see the comment at the top of receiver.c\n"); return 2;
        }
    }
    if (!opt_port || n_players < 0 || n_players > 100000) {
        fprintf(stderr, "receiver: --port and -n (0..100000) are required\n");
        return 2;
    }
    struct in_addr ia;
    if (inet_pton(AF_INET, opt_host, &ia) != 1 || (ntohl(ia.s_addr) >> 24) != 127) {
        fprintf(stderr, "receiver: --host must be an IPv4 loopback address (127.0.0.0/8)\n");
        return 2;
    }
    if (script) load_script(script);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(opt_port);
    addr.sin_addr = ia;
    request_len = snprintf(request, sizeof request,
                           "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
                           opt_path, opt_host, opt_port);
    ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    conns = calloc(n_players ? n_players : 1, sizeof(conn_t));
    for (int i = 0; i < n_players; i++) conns[i].hit_round = -1;

    int64_t t0 = now_ns();
    double cpu0 = cpu_ms();
    if (host_join) { /* the host first, so it sees every player join */
        host.is_host = 1;
        host.hit_round = -1;
        start_connect(&host);
        while (host.state != S_OPEN && host.state != S_CLOSED && now_ns() - t0 < 10000000000LL) poll_once(10);
        if (host.state != S_OPEN) {
            fprintf(stderr, "receiver: the host connection did not open\n");
            return 1;
        }
    }
    int64_t t_conn0 = now_ns();
    fill_window();
    while (n_open + n_failed < n_players && now_ns() - t_conn0 < (int64_t)connect_timeout_ms * 1000000LL) {
        poll_once(10);
        fill_window();
    }
    int64_t t_conn1 = now_ns();
    double cpu1 = cpu_ms();
    printf("{\"event\":\"connected\",\"players\":%d,\"open\":%d,\"failed\":%d,\"connect_ms\":%.3f,"
           "\"cpu_ms\":%.3f,\"t_start\":%lld,\"t_end\":%lld}\n",
           n_players, n_open, n_failed + (n_players - n_open - n_failed), (t_conn1 - t_conn0) / 1e6, cpu1 - cpu0,
           (long long)t_conn0, (long long)t_conn1);
    fflush(stdout);
    if (wait_in) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
        wait_stdin();
    }
    int64_t t_rounds0 = now_ns();
    double cpu_rounds0 = cpu_ms();
    for (int r = 0; r < n_rounds && host.state == S_OPEN; r++) {
        round_t *rd = &rounds[r];
        round_hits = 0;
        double c0 = cpu_ms();
        cur_round = r;
        rd->t_trigger = now_ns();
        send_text(&host, rd->trigger);
        int64_t limit = rd->t_trigger + (int64_t)round_timeout_ms * 1000000LL;
        while (round_hits < n_open && now_ns() < limit) poll_once(5);
        rd->timed_out = round_hits < n_open;
        rd->t_done = now_ns();
        rd->cpu_ms = cpu_ms() - c0;
        int64_t gap_end = now_ns() + (int64_t)gap_ms * 1000000LL;
        while (now_ns() < gap_end) poll_once(5); /* drain what else the trigger caused */
    }
    cur_round = -1;
    int64_t t_end = now_ns();
    double cpu_end = cpu_ms();
    printf("{\"event\":\"done\",\"open\":%d,\"closed_after_join\":%d,\"resets\":%ld,\"pings\":%ld,"
           "\"frames_total\":%ld,\"bytes_total\":%ld,\"wall_ms\":%.3f,\"cpu_ms\":%.3f,"
           "\"rounds_wall_ms\":%.3f,\"rounds_cpu_ms\":%.3f,\"close_codes\":{",
           n_open, n_closed_after, resets, pings, frames_total, bytes_total, (t_end - t0) / 1e6, cpu_end - cpu0,
           (t_end - t_rounds0) / 1e6, cpu_end - cpu_rounds0);
    int first = 1;
    for (int i = 0; i < 5000; i++)
        if (close_codes[i]) {
            printf("%s\"%d\":%ld", first ? "" : ",", i, close_codes[i]);
            first = 0;
        }
    if (close_other) printf("%s\"other\":%ld", first ? "" : ",", close_other);
    printf("},\"rounds\":[");
    for (int r = 0; r < n_rounds; r++) {
        round_t *rd = &rounds[r];
        printf("%s{\"match\":", r ? "," : "");
        json_str(rd->match);
        printf(",\"t_trigger\":%lld,\"t_first\":%lld,\"t_last\":%lld,\"receivers\":%ld,\"frames\":%ld,"
               "\"bytes\":%ld,\"cpu_ms\":%.3f,\"wall_ms\":%.3f,\"timed_out\":%s}",
               (long long)rd->t_trigger, (long long)rd->t_first, (long long)rd->t_last, rd->receivers, rd->frames,
               rd->bytes, rd->cpu_ms, (rd->t_done - rd->t_trigger) / 1e6, rd->timed_out ? "true" : "false");
    }
    printf("]}\n");
    fflush(stdout);
    if (wait_in) wait_stdin();
    return 0;
}
