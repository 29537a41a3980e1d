#ifndef HASHMAP_H
#define HASHMAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Open-addressing string -> int map with linear probing. Header only. */

struct hm_slot {
    char *key;
    long value;
    uint32_t hash;
};

struct hashmap {
    struct hm_slot *slots;
    size_t cap;   /* always a power of two */
    size_t len;
};

static inline uint32_t hm_fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 16777619u;
    }
    return h ? h : 1; /* 0 marks an empty slot */
}

static inline int hm_init(struct hashmap *m, size_t cap)
{
    size_t c = 16;
    while (c < cap)
        c <<= 1;
    m->slots = calloc(c, sizeof *m->slots);
    m->cap = c;
    m->len = 0;
    return m->slots ? 0 : -1;
}

static inline struct hm_slot *hm_find(struct hashmap *m, const char *key, uint32_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct hm_slot *s = &m->slots[i];
        if (s->hash == 0 || (s->hash == h && strcmp(s->key, key) == 0))
            return s;
    }
}

static inline int hm_grow(struct hashmap *m)
{
    struct hashmap bigger;
    if (hm_init(&bigger, m->cap * 2) != 0)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        struct hm_slot *s = &m->slots[i];
        if (s->hash)
            *hm_find(&bigger, s->key, s->hash) = *s;
    }
    bigger.len = m->len;
    free(m->slots);
    *m = bigger;
    return 0;
}

static inline int hm_put(struct hashmap *m, const char *key, long value)
{
    if ((m->len + 1) * 4 > m->cap * 3 && hm_grow(m) != 0)
        return -1;
    uint32_t h = hm_fnv1a(key);
    struct hm_slot *s = hm_find(m, key, h);
    if (s->hash == 0) {
        s->key = strdup(key);
        if (!s->key)
            return -1;
        s->hash = h;
        m->len++;
    }
    s->value = value;
    return 0;
}

static inline const long *hm_get(struct hashmap *m, const char *key)
{
    struct hm_slot *s = hm_find(m, key, hm_fnv1a(key));
    return s->hash ? &s->value : NULL;
}

static inline void hm_free(struct hashmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    m->slots = NULL;
    m->cap = m->len = 0;
}

#endif /* HASHMAP_H */
