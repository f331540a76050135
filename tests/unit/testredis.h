/*
 * testredis.h - a private redis-server for the unit tests that need one
 * (started once per test binary on a free loopback port, stopped at
 * exit; exit 77, "skipped", where redis-server is not installed), and
 * redis-cli helpers.  Include after testlib.h.
 */
#ifndef CADENZA_TESTREDIS_H
#define CADENZA_TESTREDIS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue.h"

static pid_t test_redis_pid;
static char test_redis_url[64];
static char test_redis_dir[] = "/tmp/cz-test-redis.XXXXXX";

static inline void test_redis_stop(void)
{
    if (test_redis_pid > 0) {
        kill(test_redis_pid, SIGTERM);
        waitpid(test_redis_pid, NULL, 0);
        test_redis_pid = 0;
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", test_redis_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", test_redis_dir);
    }
}

/* The server's URL, starting it on first use. */
static inline const char *test_redis(void)
{
    if (test_redis_pid)
        return test_redis_url;
    if (access("/usr/bin/redis-server", X_OK) != 0)
        exit(77);
    if (!mkdtemp(test_redis_dir))
        abort();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        abort();
    close(fd);
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", ntohs(a.sin_port));
    snprintf(test_redis_url, sizeof(test_redis_url), "redis://127.0.0.1:%s", ps);
    fflush(stdout);
    test_redis_pid = fork();
    if (test_redis_pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(127);
        execl("/usr/bin/redis-server", "redis-server", "--port", ps, "--bind", "127.0.0.1",
              "--save", "", "--appendonly", "no", "--dir", test_redis_dir, "--loglevel",
              "warning", (char *)NULL);
        _exit(127);
    }
    atexit(test_redis_stop);
    return test_redis_url;
}

/* A blocking queue connection with key prefix (the server started if needed). */
static inline struct queue *test_queue(const char *prefix)
{
    const char *url = test_redis();
    struct queue *q = NULL;
    for (int i = 0; i < 100 && !q; i++)
        if (queue_connect(url, prefix, 0, &q, NULL, 0) < 0)
            usleep(50000);
    if (!q) {
        fprintf(stderr, "cannot connect to %s\n", url);
        exit(1);
    }
    return q;
}

/* Run redis-cli ARGS; its first output line into out (may be NULL). */
static inline void test_rcli(const char *args, char *out, size_t outlen)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "redis-cli -u %s %s", test_redis(), args);
    FILE *f = popen(cmd, "r");
    char line[256] = "";
    if (!f || !fgets(line, sizeof(line), f))
        line[0] = 0;
    if (f)
        pclose(f);
    line[strcspn(line, "\n")] = 0;
    if (out)
        snprintf(out, outlen, "%s", line);
}

/* An integer answer of redis-cli (-1 when there is none). */
static inline int64_t test_rcli_int(const char *args)
{
    char v[64];
    test_rcli(args, v, sizeof(v));
    char *end;
    int64_t n = strtoll(v, &end, 10);
    return end == v ? -1 : n;
}

#endif
