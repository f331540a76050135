/*
 * phone.cc - the C shim over libphonenumber (see phone.h).
 *
 * Two paths.  The fast path takes international input ("+", digits, and
 * the separators " -.()" anywhere after the "+") and checks it against
 * libphonenumber's own metadata: the serialized PhoneMetadataCollection
 * the library exports, parsed here once, with each region's patterns
 * compiled by RE2 on first use.  The slow path is libphonenumber itself
 * (Parse, IsValidNumber, GetNumberType, Format); it takes everything the
 * fast path declines: national input, letters, unknown calling codes,
 * a national prefix after the calling code, more than 20 digits.
 *
 * What the fast path replays, for "+<digits>" input:
 *   Parse:  calling code = the first 1..3 digit prefix naming a region
 *           (codes are prefix-free); NSN = the rest, 2..17 digits.  Parse
 *           also strips a national prefix after "+cc" ("+44 (0)20 ...")
 *           when the main region's national_prefix_for_parsing matches
 *           the NSN start: then we decline.
 *   region: the only one of the calling code; else the first in the
 *           code's list (main country first, then metadata order) whose
 *           leading_digits match the NSN start or, without
 *           leading_digits, for which the NSN has a type
 *           (GetRegionCodeForNumberFromRegionList).
 *   type:   possible length, then full match of each description, in
 *           GetNumberTypeHelper's order: general (else invalid), premium,
 *           toll free, shared cost, VoIP, personal, pager, UAN,
 *           voicemail, fixed line (or mobile when the patterns are the
 *           same or mobile matches too), mobile.
 * The row's region plays no part for international input, as in Parse.
 *
 * Invariants:
 *  1. No C++ exception crosses the C boundary.
 *  2. The fast path either declines or gives exactly the slow path's
 *     answer: validity, E.164 form and type (tests/unit/test-phone.c
 *     compares them on 200k numbers).
 *  3. out_e164 and *ret_type are written only on success; out_e164 is
 *     NUL-terminated.
 *  4. Once a region's patterns are compiled, the fast path allocates
 *     nothing.  The tables are built once and never freed (reachable
 *     from a static); a region whose patterns RE2 rejects is never
 *     answered by the fast path.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <phonenumbers/phonemetadata.pb.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>
#include <re2/re2.h>

#include "debtor.h"
#include "phone.h"

namespace i18n {
namespace phonenumbers {
/* Exported by libphonenumber, not declared in its installed headers. */
const void *metadata_get();
int metadata_size();
}
}

using i18n::phonenumbers::PhoneMetadata;
using i18n::phonenumbers::PhoneMetadataCollection;
using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberDesc;
using i18n::phonenumbers::PhoneNumberUtil;

#define FAST_DECLINE (-EAGAIN)
#define NSN_MIN 2  /* PhoneNumberUtil::kMinLengthForNsn */
#define NSN_MAX 17 /* PhoneNumberUtil::kMaxLengthForNsn */
#define DIGITS_MAX 20

static PhoneNumberUtil *util_get()
{
    static PhoneNumberUtil *u = PhoneNumberUtil::GetInstance();
    return u;
}

/* ---- metadata tables ---------------------------------------------------- */

/* Descriptions in GetNumberTypeHelper's order (general first). */
enum desc_kind {
    D_GENERAL,
    D_PREMIUM,
    D_TOLL_FREE,
    D_SHARED_COST,
    D_VOIP,
    D_PERSONAL,
    D_PAGER,
    D_UAN,
    D_VOICEMAIL,
    D_FIXED,
    D_MOBILE,
    _D_MAX,
};

static const PhoneNumberUtil::PhoneNumberType desc_type[_D_MAX] = {
    PhoneNumberUtil::UNKNOWN, PhoneNumberUtil::PREMIUM_RATE, PhoneNumberUtil::TOLL_FREE,
    PhoneNumberUtil::SHARED_COST, PhoneNumberUtil::VOIP, PhoneNumberUtil::PERSONAL_NUMBER,
    PhoneNumberUtil::PAGER, PhoneNumberUtil::UAN, PhoneNumberUtil::VOICEMAIL,
    PhoneNumberUtil::FIXED_LINE, PhoneNumberUtil::MOBILE,
};

static const PhoneNumberDesc &desc_of(const PhoneMetadata &md, int kind)
{
    switch (kind) {
    case D_PREMIUM:
        return md.premium_rate();
    case D_TOLL_FREE:
        return md.toll_free();
    case D_SHARED_COST:
        return md.shared_cost();
    case D_VOIP:
        return md.voip();
    case D_PERSONAL:
        return md.personal_number();
    case D_PAGER:
        return md.pager();
    case D_UAN:
        return md.uan();
    case D_VOICEMAIL:
        return md.voicemail();
    case D_FIXED:
        return md.fixed_line();
    case D_MOBILE:
        return md.mobile();
    default:
        return md.general_desc();
    }
}

struct desc {
    std::unique_ptr<RE2> re; /* NULL: empty pattern, never matches */
    uint32_t lengths;        /* bit n: an NSN of n digits is possible */
    bool any_length;         /* no possible_length list: no length check */
    bool ranged;             /* every match m has min <= m <= max */
    std::string min, max;
};

struct region {
    const PhoneMetadata *md;
    std::once_flag once;
    bool ok; /* every pattern compiled (set under once) */
    bool same_mobile_fixed;
    std::unique_ptr<RE2> leading;   /* leading_digits, when the region has it */
    std::unique_ptr<RE2> natprefix; /* national_prefix_for_parsing, when set */
    struct desc d[_D_MAX];
};

struct tables {
    PhoneMetadataCollection coll;
    std::vector<std::unique_ptr<region>> regions;
    /* calling code -> regions, main country first, then metadata order */
    std::vector<region *> by_cc[1000];
};

static tables *tables_p; /* built once, never freed */
static std::once_flag tables_once;

static void tables_build()
{
    tables *t = new tables();
    const void *bytes = i18n::phonenumbers::metadata_get();
    int size = i18n::phonenumbers::metadata_size();
    if (!bytes || size <= 0 || !t->coll.ParseFromArray(bytes, size)) {
        tables_p = t; /* empty: the fast path declines everything */
        return;
    }
    for (const PhoneMetadata &md : t->coll.metadata()) {
        /* as PhoneNumberUtil's constructor builds its calling code map */
        if (md.id() == "ZZ" || md.country_code() <= 0 || md.country_code() >= 1000)
            continue;
        std::unique_ptr<region> r(new region());
        r->md = &md;
        std::vector<region *> &list = t->by_cc[md.country_code()];
        if (!list.empty() && md.main_country_for_code())
            list.insert(list.begin(), r.get());
        else
            list.push_back(r.get());
        t->regions.push_back(std::move(r));
    }
    tables_p = t;
}

static const tables *tables_get()
{
    std::call_once(tables_once, tables_build);
    return tables_p;
}

static std::unique_ptr<RE2> compile(const std::string &pattern, bool *ok)
{
    RE2::Options opt;
    opt.set_log_errors(false);
    std::unique_ptr<RE2> re(new RE2(pattern, opt));
    if (!re->ok())
        *ok = false;
    return re;
}

static void region_compile(region *r)
{
    const PhoneMetadata &md = *r->md;
    bool ok = true;
    for (int k = 0; k < _D_MAX; k++) {
        const PhoneNumberDesc &pd = desc_of(md, k);
        struct desc &d = r->d[k];
        d.any_length = pd.possible_length_size() == 0;
        d.lengths = 0;
        for (int len : pd.possible_length())
            if (len >= 0 && len < 32)
                d.lengths |= UINT32_C(1) << len;
        if (!pd.national_number_pattern().empty()) {
            d.re = compile(pd.national_number_pattern(), &ok);
            /* a cheap exact filter: most types of a region differ in
             * their first digits (GB: 10 types of 10 digits each) */
            d.ranged = d.re->ok() && d.re->PossibleMatchRange(&d.min, &d.max, NSN_MAX);
        }
    }
    if (md.has_leading_digits())
        r->leading = compile(md.leading_digits(), &ok);
    if (!md.national_prefix_for_parsing().empty())
        r->natprefix = compile(md.national_prefix_for_parsing(), &ok);
    r->same_mobile_fixed = md.same_mobile_and_fixed_line_pattern();
    r->ok = ok;
}

static bool region_ready(region *r)
{
    std::call_once(r->once, region_compile, r);
    return r->ok;
}

/* ---- the fast path ------------------------------------------------------ */

static bool match_prefix(const RE2 &re, const re2::StringPiece &s)
{
    return re.Match(s, 0, s.size(), RE2::ANCHOR_START, nullptr, 0);
}

/* IsNumberMatchingDesc */
static bool desc_match(const struct desc &d, const re2::StringPiece &nsn)
{
    size_t len = nsn.size();
    if (!d.any_length && !(len < 32 && (d.lengths >> len & 1)))
        return false;
    if (!d.re)
        return false;
    if (d.ranged && (nsn.compare(d.min) < 0 || nsn.compare(d.max) > 0))
        return false;
    return d.re->Match(nsn, 0, len, RE2::ANCHOR_BOTH, nullptr, 0);
}

/* GetNumberTypeHelper */
static PhoneNumberUtil::PhoneNumberType number_type(const region *r, const re2::StringPiece &nsn)
{
    if (!desc_match(r->d[D_GENERAL], nsn))
        return PhoneNumberUtil::UNKNOWN;
    for (int k = D_PREMIUM; k <= D_VOICEMAIL; k++)
        if (desc_match(r->d[k], nsn))
            return desc_type[k];
    if (desc_match(r->d[D_FIXED], nsn)) {
        if (r->same_mobile_fixed || desc_match(r->d[D_MOBILE], nsn))
            return PhoneNumberUtil::FIXED_LINE_OR_MOBILE;
        return PhoneNumberUtil::FIXED_LINE;
    }
    if (!r->same_mobile_fixed && desc_match(r->d[D_MOBILE], nsn))
        return PhoneNumberUtil::MOBILE;
    return PhoneNumberUtil::UNKNOWN;
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

/* 0, -EINVAL, or FAST_DECLINE when the slow path must answer. */
static int check_fast(const char *s, size_t n, char out_e164[PHONE_E164_MAX], int *ret_type)
{
    if (n < 4 || s[0] != '+')
        return FAST_DECLINE;
    char dig[DIGITS_MAX];
    size_t nd = 0;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (nd == DIGITS_MAX)
                return FAST_DECLINE;
            dig[nd++] = c;
        } else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')')
            return FAST_DECLINE;
    }
    /* fewer than 3 digits or a leading 0: Parse's odd retries, not ours */
    if (nd < 3 || dig[0] == '0')
        return FAST_DECLINE;

    const tables *t = tables_get();
    int cc = 0;
    size_t k;
    for (k = 1; k <= 3; k++) {
        cc = cc * 10 + (dig[k - 1] - '0');
        if (!t->by_cc[cc].empty())
            break;
    }
    if (k > 3)
        return FAST_DECLINE;
    const std::vector<region *> &list = t->by_cc[cc];
    re2::StringPiece nsn(dig + k, nd - k);
    if (nsn.size() < NSN_MIN)
        return -EINVAL;
    region *main_region = list[0];
    if (!region_ready(main_region))
        return FAST_DECLINE;
    if (main_region->natprefix && match_prefix(*main_region->natprefix, nsn))
        return FAST_DECLINE;
    if (nsn.size() > NSN_MAX)
        return -EINVAL;

    PhoneNumberUtil::PhoneNumberType type = PhoneNumberUtil::UNKNOWN;
    if (list.size() == 1)
        type = number_type(main_region, nsn);
    else
        for (region *r : list) {
            if (!region_ready(r))
                return FAST_DECLINE;
            if (r->leading) {
                if (match_prefix(*r->leading, nsn)) {
                    type = number_type(r, nsn);
                    break;
                }
            } else if ((type = number_type(r, nsn)) != PhoneNumberUtil::UNKNOWN)
                break;
        }
    if (type == PhoneNumberUtil::UNKNOWN)
        return -EINVAL;

    /* the slow path's Format result must fit out_e164 */
    if (1 + nd >= PHONE_E164_MAX)
        return -EINVAL;
    out_e164[0] = '+';
    memcpy(out_e164 + 1, dig, nd);
    out_e164[1 + nd] = 0;
    *ret_type = map_type(type);
    return 0;
}

/* ---- the slow path ------------------------------------------------------ */

static int check_slow(const char *input, size_t len, const char *region,
                      char out_e164[PHONE_E164_MAX], int *ret_type)
{
    PhoneNumberUtil *u = util_get();
    PhoneNumber num;
    if (len > 64)
        return -EINVAL;
    std::string in(input, len);
    std::string reg = region && *region ? region : "ZZ";
    if (u->Parse(in, reg, &num) != PhoneNumberUtil::NO_PARSING_ERROR)
        return -EINVAL;
    if (!u->IsValidNumber(num))
        return -EINVAL;
    std::string out;
    u->Format(num, PhoneNumberUtil::E164, &out);
    if (out.size() >= PHONE_E164_MAX)
        return -EINVAL;
    memcpy(out_e164, out.c_str(), out.size() + 1);
    *ret_type = map_type(u->GetNumberType(num));
    return 0;
}

/* ---- C API -------------------------------------------------------------- */

extern "C" int phone_init(void)
{
    try {
        (void)util_get();
        (void)tables_get();
    } catch (...) {
    }
    return 0;
}

extern "C" int phone_check(const char *input, size_t len, const char *region,
                           char out_e164[PHONE_E164_MAX], int *ret_type)
{
    try {
        int r = check_fast(input, len, out_e164, ret_type);
        if (r != FAST_DECLINE)
            return r;
        return check_slow(input, len, region, out_e164, ret_type);
    } catch (...) {
        return -EINVAL;
    }
}

extern "C" int phone_region(const char *e164, char out_region[3])
{
    try {
        PhoneNumberUtil *u = util_get();
        PhoneNumber num;
        if (!e164 || e164[0] != '+' ||
            u->Parse(std::string(e164), "ZZ", &num) != PhoneNumberUtil::NO_PARSING_ERROR)
            return -EINVAL;
        std::string reg;
        u->GetRegionCodeForNumber(num, &reg);
        /* "ZZ": unknown; "001": a non-geographic number (satellite, UIFN) */
        if (reg.size() != 2 || reg == "ZZ")
            return -ENOENT;
        memcpy(out_region, reg.c_str(), 3);
        return 0;
    } catch (...) {
        return -EINVAL;
    }
}

extern "C" int phone_check_fast(const char *input, size_t len, char out_e164[PHONE_E164_MAX],
                                int *ret_type)
{
    try {
        return check_fast(input, len, out_e164, ret_type);
    } catch (...) {
        return -EINVAL;
    }
}

extern "C" int phone_check_reference(const char *input, size_t len, const char *region,
                                     char out_e164[PHONE_E164_MAX], int *ret_type)
{
    try {
        return check_slow(input, len, region, out_e164, ret_type);
    } catch (...) {
        return -EINVAL;
    }
}

extern "C" size_t phone_examples(char (*out)[PHONE_E164_MAX + 4], size_t max)
{
    size_t n = 0;
    try {
        for (const std::unique_ptr<region> &r : tables_get()->regions)
            for (int k = 0; k < _D_MAX; k++) {
                const std::string &ex = desc_of(*r->md, k).example_number();
                if (ex.empty())
                    continue;
                if (n < max)
                    snprintf(out[n], sizeof(out[n]), "+%d %s", (int)r->md->country_code(),
                             ex.c_str());
                n++;
            }
    } catch (...) {
    }
    return n;
}
