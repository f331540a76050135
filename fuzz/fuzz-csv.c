/*
 * fuzz-csv.c - feeds arbitrary bytes through row_reader (CSV, JSONL or
 * sniffed) and debtor_validate.  Must never crash, hang or leak.
 *
 * The first byte picks the format (low 2 bits) and a read size (the rest:
 * 0 = the normal large chunk), so quotes and CRLF straddle reads.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "debtor.h"
#include "phone.h"
#include "rowreader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static int inited;
    if (!inited) {
        phone_init();
        inited = 1;
    }
    enum row_format fmt = (enum row_format)(data[0] & 3);
    if (fmt > ROW_FORMAT_JSONL)
        fmt = ROW_FORMAT_AUTO;
    size_t chunk = data[0] >> 2;
    data++;
    size--;

    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    lseek(fd, 0, SEEK_SET);

    struct row_reader *r = NULL;
    char err[512];
    if (row_reader_new(fd, NULL, fmt, &r, err, sizeof(err)) == 0) {
        if (chunk)
            row_reader_set_chunk(r, chunk);
        for (int i = 0; i < 100000; i++) {
            struct raw_row row;
            int k = row_reader_next(r, &row, err, sizeof(err));
            if (k == 0 || (k < 0 && k != -EINVAL))
                break;
            const char *p;
            size_t n;
            row_reader_raw(r, &p, &n);
            if (k == 1) {
                struct debtor_rec rec;
                (void)raw_row_hash(&row);
                (void)debtor_validate(&row, NULL, &rec, err, sizeof(err));
            }
        }
        row_reader_free(r);
    }
    close(fd);
    return 0;
}
