/* openloop: an open-loop HTTP/1.1 load generator for the API bench, in the manner of wrk2's -R.
 *
 * Requests are *scheduled* at a fixed rate (request k at start + k / rate) and each is sent on
 * the first free keep-alive connection; its latency runs from its scheduled start, so a slow
 * answer delays, and is charged to, the requests queued behind it (no coordinated omission).
 * One thread and epoll: at 2 700 requests per second it used 11 % of a core, nearly all in
 * the kernel's sends and receives, where the asyncio client it replaces used ~20-25 % of one
 * on the same cores as the server it measures.
 *
 *   openloop PORT RATE SECONDS REQUESTS_FILE SEED FD...
 *
 * FD...          connected sockets to 127.0.0.1:PORT, inherited from the caller (which
 *                chooses how they spread over the server's workers); PORT is used only to
 *                reconnect after a connection fails.
 * REQUESTS_FILE  complete HTTP requests separated by NUL bytes; each send picks one at
 *                random (seeded).
 *
 * Output (stdout): per completed request, one line "LATENCY WAIT" in microseconds (WAIT:
 * how long it waited in the client for a free connection, part of LATENCY), then a last
 * line "# sent=N errors=N elapsed=SECONDS". Any status but 200 and any broken
 * connection counts as an error (the request's latency is still recorded). The run stops
 * by itself: scheduling ends after SECONDS, and 10 s later (OPENLOOP_DRAIN_SECONDS)
 * whatever is still in flight or was never sent (every connection stuck) is counted as
 * errors. Exit status 2 on bad arguments or input.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUFFER 65536
static int64_t DRAIN_NS = 10000000000LL; /* OPENLOOP_DRAIN_SECONDS overrides */

typedef struct {
    int fd;
    int busy;
    int64_t scheduled; /* ns, of the request in flight */
    uint32_t waited;   /* us it waited for a free connection (the client's own queue) */
    const char *out;   /* unsent part of the request */
    size_t out_left;
    char in[BUFFER];
    size_t in_len;
} Connection;

static const char **requests;
static size_t *request_lengths;
static size_t request_count;
static int port;
static int epoll_fd;
static uint64_t rng_state;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static uint64_t next_random(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static void die(const char *what) {
    fprintf(stderr, "openloop: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void load_requests(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    struct stat st;
    if (fstat(fileno(f), &st) != 0) die(path);
    char *data = malloc((size_t)st.st_size + 1);
    if (!data || fread(data, 1, (size_t)st.st_size, f) != (size_t)st.st_size) die(path);
    fclose(f);
    data[st.st_size] = '\0';
    size_t capacity = 1024;
    requests = malloc(capacity * sizeof *requests);
    request_lengths = malloc(capacity * sizeof *request_lengths);
    for (char *p = data; p < data + st.st_size;) {
        size_t length = strlen(p);
        if (length) {
            if (request_count == capacity) {
                capacity *= 2;
                requests = realloc(requests, capacity * sizeof *requests);
                request_lengths = realloc(request_lengths, capacity * sizeof *request_lengths);
            }
            requests[request_count] = p;
            request_lengths[request_count++] = length;
        }
        p += length + 1;
    }
    if (!request_count) {
        fprintf(stderr, "openloop: %s holds no request\n", path);
        exit(2);
    }
}

static void watch(Connection *c, uint32_t events, int op) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(epoll_fd, op, c->fd, &ev) != 0) die("epoll_ctl");
}

static void set_socket(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void reconnect(Connection *c) {
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&address, sizeof address) != 0)
        die("reconnect");
    set_socket(c->fd);
    c->in_len = 0;
    c->out_left = 0;
    watch(c, EPOLLIN, EPOLL_CTL_ADD);
}

/* Sends what is left of the request; returns 0, or -1 if the connection broke. */
static int flush(Connection *c) {
    while (c->out_left) {
        ssize_t n = send(c->fd, c->out, c->out_left, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
                return 0;
            }
            if (errno == EINTR) continue;
            return -1;
        }
        c->out += n;
        c->out_left -= (size_t)n;
    }
    return 0;
}

/* 1 with *ok set once the buffer holds a whole response, 0 while it does not. */
static int complete(Connection *c, int *ok) {
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - c->in) + 4;
    size_t length = 0;
    for (char *line = c->in; line < end;) {
        char *next = memmem(line, (size_t)(end - line), "\r\n", 2);
        if (!next) next = end;
        if ((size_t)(next - line) > 15 && strncasecmp(line, "content-length:", 15) == 0)
            length = strtoul(line + 15, NULL, 10);
        line = next + 2;
    }
    if (c->in_len < head + length) return 0;
    *ok = c->in_len >= 12 && memcmp(c->in, "HTTP/1.1 200", 12) == 0;
    c->in_len -= head + length;
    memmove(c->in, c->in + head + length, c->in_len);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: openloop PORT RATE SECONDS REQUESTS_FILE SEED FD...\n");
        return 2;
    }
    port = atoi(argv[1]);
    double rate = atof(argv[2]), seconds = atof(argv[3]);
    if (port <= 0 || rate <= 0 || seconds <= 0) {
        fprintf(stderr, "openloop: PORT, RATE and SECONDS must be positive\n");
        return 2;
    }
    const char *drain = getenv("OPENLOOP_DRAIN_SECONDS");
    if (drain) DRAIN_NS = (int64_t)(atof(drain) * 1e9);
    load_requests(argv[4]);
    rng_state = (uint64_t)strtoull(argv[5], NULL, 10) * 0x9E3779B97F4A7C15ULL + 1;
    int connection_count = argc - 6;
    Connection *connections = calloc((size_t)connection_count, sizeof *connections);
    int *free_list = malloc((size_t)connection_count * sizeof *free_list);
    int free_count = 0;
    epoll_fd = epoll_create1(0);
    if (epoll_fd < 0) die("epoll_create1");
    for (int i = 0; i < connection_count; i++) {
        connections[i].fd = atoi(argv[6 + i]);
        set_socket(connections[i].fd);
        watch(&connections[i], EPOLLIN, EPOLL_CTL_ADD);
        free_list[free_count++] = i;
    }

    int64_t interval = (int64_t)(1e9 / rate);
    int64_t start = now_ns() + 50000000LL;
    int64_t deadline = start + (int64_t)(seconds * 1e9);
    int64_t total = (int64_t)((double)(deadline - start) / (double)interval) + 1;
    uint32_t *latencies = malloc((size_t)total * sizeof *latencies);
    uint32_t *waits = malloc((size_t)total * sizeof *waits);
    int64_t sent = 0, done = 0, errors = 0, in_flight = 0, last = start;
    struct epoll_event events[64];

    for (;;) {
        int64_t now = now_ns();
        while (sent < total && start + sent * interval <= now && free_count) {
            Connection *c = &connections[free_list[--free_count]];
            size_t pick = (size_t)(next_random() % request_count);
            c->busy = 1;
            c->scheduled = start + sent * interval;
            c->waited = (uint32_t)((now - c->scheduled) / 1000);
            c->out = requests[pick];
            c->out_left = request_lengths[pick];
            sent++;
            in_flight++;
            if (flush(c) != 0) {
                errors++;
                waits[done] = c->waited;
                latencies[done++] = (uint32_t)((now_ns() - c->scheduled) / 1000);
                c->busy = 0;
                in_flight--;
                reconnect(c);
                free_list[free_count++] = (int)(c - connections);
            }
        }
        if (sent >= total && !in_flight) break;
        if (now > deadline + DRAIN_NS) {
            errors += in_flight + (total - sent); /* never answered, never sent */
            break;
        }
        int64_t until = sent < total && free_count ? start + sent * interval
                                                   : deadline + DRAIN_NS;
        int64_t left = until - now_ns();
        if (left < 0) left = 0;
        struct timespec timeout = {.tv_sec = left / 1000000000LL, .tv_nsec = left % 1000000000LL};
        int n = epoll_pwait2(epoll_fd, events, 64, &timeout, NULL);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_pwait2");
        }
        for (int e = 0; e < n; e++) {
            Connection *c = events[e].data.ptr;
            int broken = 0;
            if (events[e].events & EPOLLOUT) {
                if (flush(c) != 0) broken = 1;
                else if (!c->out_left) watch(c, EPOLLIN, EPOLL_CTL_MOD);
            }
            if (!broken && events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t got = recv(c->fd, c->in + c->in_len, BUFFER - c->in_len, 0);
                if (got > 0) c->in_len += (size_t)got;
                else if (got == 0 || (errno != EAGAIN && errno != EINTR)) broken = 1;
                if (!broken && c->in_len == BUFFER) broken = 1; /* oversized answer */
            }
            int ok = 0;
            if (!broken && !(c->busy && complete(c, &ok))) continue;
            int was_busy = c->busy;
            if (was_busy) {
                int64_t finished = now_ns();
                waits[done] = c->waited;
                latencies[done++] = (uint32_t)((finished - c->scheduled) / 1000);
                last = finished;
                if (broken || !ok) errors++;
                c->busy = 0;
                in_flight--;
            }
            if (broken) reconnect(c); /* an idle one stays on the free list, reconnected */
            if (was_busy) free_list[free_count++] = (int)(c - connections);
        }
    }
    for (int64_t i = 0; i < done; i++) printf("%u %u\n", latencies[i], waits[i]);
    printf("# sent=%lld errors=%lld elapsed=%.6f\n", (long long)sent, (long long)errors,
           (double)(last - start) / 1e9);
    return 0;
}
