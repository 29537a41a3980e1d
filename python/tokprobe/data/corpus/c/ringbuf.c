/* A byte ring buffer with a small command-line self test. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t capacity;
    size_t head;   /* next byte to read */
    size_t count;  /* bytes stored */
} ringbuf;

static int ringbuf_init(ringbuf *rb, size_t capacity)
{
    if (capacity == 0)
        return -EINVAL;
    rb->data = malloc(capacity);
    if (!rb->data)
        return -ENOMEM;
    rb->capacity = capacity;
    rb->head = 0;
    rb->count = 0;
    return 0;
}

static void ringbuf_free(ringbuf *rb)
{
    free(rb->data);
    memset(rb, 0, sizeof(*rb));
}

static size_t ringbuf_write(ringbuf *rb, const uint8_t *src, size_t len)
{
    size_t space = rb->capacity - rb->count;
    if (len > space)
        len = space;
    size_t tail = (rb->head + rb->count) % rb->capacity;
    size_t first = rb->capacity - tail;
    if (first > len)
        first = len;
    memcpy(rb->data + tail, src, first);
    memcpy(rb->data, src + first, len - first);
    rb->count += len;
    return len;
}

static size_t ringbuf_read(ringbuf *rb, uint8_t *dst, size_t len)
{
    if (len > rb->count)
        len = rb->count;
    size_t first = rb->capacity - rb->head;
    if (first > len)
        first = len;
    memcpy(dst, rb->data + rb->head, first);
    memcpy(dst + first, rb->data, len - first);
    rb->head = (rb->head + len) % rb->capacity;
    rb->count -= len;
    return len;
}

static bool ringbuf_empty(const ringbuf *rb) { return rb->count == 0; }

int main(int argc, char **argv)
{
    size_t capacity = argc > 1 ? strtoul(argv[1], NULL, 10) : 8;
    ringbuf rb;
    int err = ringbuf_init(&rb, capacity);
    if (err) {
        fprintf(stderr, "init failed: %s\n", strerror(-err));
        return EXIT_FAILURE;
    }
    const char *msg = "hello, ring buffer";
    uint8_t out[64];
    size_t sent = 0, got = 0;
    while (sent < strlen(msg) || !ringbuf_empty(&rb)) {
        sent += ringbuf_write(&rb, (const uint8_t *)msg + sent, strlen(msg) - sent);
        size_t n = ringbuf_read(&rb, out + got, 3);
        got += n;
        printf("sent=%zu got=%zu stored=%zu\n", sent, got, rb.count);
    }
    out[got] = '\0';
    printf("%s\n", (const char *)out);
    ringbuf_free(&rb);
    return strcmp((const char *)out, msg) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
