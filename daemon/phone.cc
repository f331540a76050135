/*
 * phone.cc - the C shim over libphonenumber (see phone.h).
 *
 * Owns nothing: PhoneNumberUtil is a process-wide singleton.  Parsing is
 * the slow part of libphonenumber (~70k/s per core), so input already in
 * E.164 form is split into country code and national number here and only
 * the validity and type checks run in the library.
 *
 * Invariants:
 *  1. No C++ exception crosses the C boundary.
 *  2. The fast path accepts exactly what Parse + IsValidNumber accept for
 *     "+<digits>" input (tests compare both paths).
 *  3. out_e164 is written only on success and always NUL-terminated.
 */
#include <errno.h>
#include <string.h>

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include "debtor.h"
#include "phone.h"

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

static PhoneNumberUtil *util_get()
{
    static PhoneNumberUtil *u = PhoneNumberUtil::GetInstance();
    return u;
}

extern "C" int phone_init(void)
{
    (void)util_get();
    return 0;
}

static int map_type(PhoneNumberUtil::PhoneNumberType t)
{
    switch (t) {
    case PhoneNumberUtil::MOBILE:
        return PHONE_MOBILE;
    case PhoneNumberUtil::FIXED_LINE:
        return PHONE_FIXED_LINE;
    case PhoneNumberUtil::FIXED_LINE_OR_MOBILE:
        return PHONE_FIXED_OR_MOBILE;
    case PhoneNumberUtil::VOIP:
        return PHONE_VOIP;
    default:
        return PHONE_OTHER;
    }
}

/* Is s[0..n) "+" then 2..15 digits? */
static bool is_e164(const char *s, size_t n)
{
    if (n < 3 || n > 16 || s[0] != '+' || s[1] == '0')
        return false;
    for (size_t i = 1; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/*
 * Split "+<cc><national>" by trying 1..3 digit country codes (ITU codes
 * are prefix-free, so at most one matches).  Returns false when none does.
 */
static bool split_e164(PhoneNumberUtil *u, const char *s, size_t n, PhoneNumber *num)
{
    int cc = 0;
    for (size_t k = 1; k <= 3 && k + 1 < n; k++) {
        cc = cc * 10 + (s[k] - '0');
        std::string region;
        u->GetRegionCodeForCountryCode(cc, &region);
        if (region == "ZZ")
            continue;
        const char *nat = s + 1 + k;
        size_t nlen = n - 1 - k;
        if (nlen < 2 || nlen > 17)
            return false;
        uint64_t v = 0;
        size_t zeros = 0;
        while (zeros < nlen && nat[zeros] == '0')
            zeros++;
        for (size_t i = 0; i < nlen; i++)
            v = v * 10 + (uint64_t)(nat[i] - '0');
        num->set_country_code(cc);
        num->set_national_number(v);
        if (zeros > 0 && zeros < nlen) {
            num->set_italian_leading_zero(true);
            if (zeros > 1)
                num->set_number_of_leading_zeros((int)zeros);
        } else if (zeros == nlen)
            return false;
        return true;
    }
    return false;
}

extern "C" int phone_check(const char *input, size_t len, const char *region, char out_e164[20],
                           int *ret_type)
{
    try {
        PhoneNumberUtil *u = util_get();
        PhoneNumber num;
        bool fast = is_e164(input, len);
        if (fast) {
            if (!split_e164(u, input, len, &num))
                return -EINVAL;
            /* GetNumberType is UNKNOWN exactly when IsValidNumber is false
             * (both run the same per-region pattern match): one pass. */
            PhoneNumberUtil::PhoneNumberType t = u->GetNumberType(num);
            if (t == PhoneNumberUtil::UNKNOWN)
                return -EINVAL;
            *ret_type = map_type(t);
            memcpy(out_e164, input, len);
            out_e164[len] = 0;
            return 0;
        } else {
            if (len > 64)
                return -EINVAL;
            std::string in(input, len);
            std::string reg = region && *region ? region : "ZZ";
            if (u->Parse(in, reg, &num) != PhoneNumberUtil::NO_PARSING_ERROR)
                return -EINVAL;
        }
        if (!u->IsValidNumber(num))
            return -EINVAL;
        std::string out;
        u->Format(num, PhoneNumberUtil::E164, &out);
        if (out.size() >= PHONE_E164_MAX)
            return -EINVAL;
        memcpy(out_e164, out.c_str(), out.size() + 1);
        *ret_type = map_type(u->GetNumberType(num));
        return 0;
    } catch (...) {
        return -EINVAL;
    }
}
