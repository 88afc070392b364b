#!/usr/bin/env python3
"""Reference decisions for the differential validation test (tests/differential.rs).

Generates a few thousand values per kind from a fixed seed, asks the widely
used reference libraries whether each is valid, and prints one JSON object a
line: {"kind", "value", "accepts", "normal", "note"}.

  id_number    python-stdnum  stdnum.cn.ric   (note: stdnum's place entry with its
               [start-end] year spans, or "absent")
  credit_code  python-stdnum  stdnum.cn.uscc
  mobile       phonenumbers   parse(value, "CN"); a mainland number must be a mobile
  landline     phonenumbers   parse(value, "CN"); a fixed line or a 400/800 number
  email        email-validator  validate_email(check_deliverability=False)

`--check` only imports the libraries (exit 0 when all are there) and prints
their versions. The values are generated here, not in Rust, so that the
reference sees exactly the strings custodian sees.
"""
import json
import random
import sys


def versions():
    import email_validator
    import phonenumbers
    import stdnum

    return {
        "python-stdnum": stdnum.__version__,
        "phonenumbers": phonenumbers.__version__,
        "email-validator": email_validator.__version__,
    }


ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"


def id_check(first17):
    return ID_CHECK[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS)) % 11]


USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def uscc_check(first17):
    total = sum(USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def stdnum_places(path):
    """Every code in stdnum's own table, so generated numbers hit it often."""
    codes = []
    province = None
    for line in open(path, encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        if not line.startswith(" "):
            province = line[:2]
        else:
            codes.append(province + line.strip()[:4])
    return codes


def id_numbers(rng, ours, theirs):
    for _ in range(3000):
        pick = rng.random()
        if pick < 0.45:
            code = rng.choice(ours)
        elif pick < 0.75:
            code = rng.choice(theirs)
        elif pick < 0.95:
            code = f"{rng.randrange(10**6):06d}"
        else:
            code = rng.choice(["999999", "000000", "110199", "820000"])
        year = rng.choice([rng.randrange(1870, 2031), rng.randrange(1950, 2025)])
        month = rng.choice([rng.randrange(1, 13), rng.randrange(0, 14)])
        day = rng.choice([rng.randrange(1, 29), rng.randrange(0, 33)])
        first17 = f"{code}{year:04d}{month:02d}{day:02d}{rng.randrange(1000):03d}"
        check = id_check(first17) if rng.random() < 0.85 else rng.choice("0123456789X")
        value = first17 + check
        if rng.random() < 0.05:
            value = value.lower()
        yield value


def credit_codes(rng):
    for _ in range(1500):
        first = rng.choice(["9", "9", "1", "5", "A", "N", "Y", "0", "Z", rng.choice(USCC_ALPHABET)])
        second = rng.choice(["1", "2", "3", rng.choice(USCC_ALPHABET)])
        division = f"{rng.randrange(10**6):06d}" if rng.random() < 0.9 else "12AB56"
        body = "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
        first17 = first + second + division + body
        computable = all(c in USCC_ALPHABET for c in first17)
        check = uscc_check(first17) if computable and rng.random() < 0.8 else rng.choice(USCC_ALPHABET)
        value = first17 + check
        shape = rng.random()
        if shape < 0.05:
            value = value.lower()
        elif shape < 0.08:
            value = value[:-1]
        elif shape < 0.10:
            value = value.replace(value[10], "O", 1)
        yield value


def mobiles(rng):
    for _ in range(3000):
        pick = rng.random()
        if pick < 0.7:
            value = "1" + "".join(rng.choice("0123456789") for _ in range(10))
            if rng.random() < 0.2:
                value = "+86 " + value
        elif pick < 0.85:
            country = rng.choice(["1", "44", "49", "33", "81", "82", "852", "853", "886", "65", "61", "7", "91", "683", "290"])
            value = "+" + country + "".join(rng.choice("0123456789") for _ in range(rng.randrange(4, 12)))
        else:
            value = "".join(rng.choice("0123456789") for _ in range(rng.randrange(7, 14)))
        yield value


def landlines(rng):
    for _ in range(2000):
        pick = rng.random()
        if pick < 0.6:
            area = rng.choice(["010", "021", "022", "023", "020", "025", "027", "028", "029", "0571", "0755", "0512",
                               "0311", "0991", "0898", "0351", "0731"])
        elif pick < 0.8:
            area = "0" + "".join(rng.choice("0123456789") for _ in range(rng.randrange(2, 4)))
        else:
            area = rng.choice(["400", "800"])
        length = rng.choice([7, 8, 8]) if area not in ("400", "800") else 7
        number = "".join(rng.choice("0123456789") for _ in range(length))
        yield f"{area}-{number}"


def emails(rng):
    locals_ = ["zhang.san", "li_si", "wang+crm", "a", "x" * 64, "x" * 65, "first..last", ".dot", "dot.", "用户",
               "o'brien", "has space", "\"quoted\"", "UPPER.Case"]
    domains = ["example.com", "example.cn", "例子.中国", "mail.公司.cn", "EXAMPLE.COM", "bad_domain.com",
               "-lead.com", "trail-.com", "nodot", "a.b", "[127.0.0.1]", "x" * 64 + ".com", "münchen.de",
               "example..com", "xn--fsqu00a.xn--fiqs8s"]
    for _ in range(1500):
        yield f"{rng.choice(locals_)}@{rng.choice(domains)}"
    yield "no-at-sign.example.com"
    yield "two@@example.com"


def main():
    if "--check" in sys.argv:
        print(json.dumps(versions()))
        return
    import email_validator
    import phonenumbers
    import stdnum.cn.ric
    import stdnum.cn.uscc
    from stdnum import numdb
    from phonenumbers import PhoneNumberType as T

    ours_path = sys.argv[sys.argv.index("--divisions") + 1]
    ours = [line.split("\t")[0] for line in open(ours_path, encoding="utf-8") if not line.startswith("#")]
    theirs = stdnum_places(stdnum.cn.ric.__file__.replace("ric.py", "loc.dat"))
    rng = random.Random(20261202)
    out = sys.stdout

    def emit(kind, value, accepts, normal=None, note=None):
        out.write(json.dumps({"kind": kind, "value": value, "accepts": accepts, "normal": normal, "note": note},
                             ensure_ascii=False) + "\n")

    for value in id_numbers(rng, ours, theirs):
        try:
            accepts = stdnum.cn.ric.is_valid(value)
        except KeyError:
            # stdnum 2.2 raises KeyError (not a validation error) for a code
            # of a known province that its table lacks.
            accepts = False
        # stdnum's entry for the code, with its year spans, or "absent".
        entry = numdb.get("cn/loc").info(value[:6])
        county = {k: v for _, props in entry for k, v in props.items()}.get("county")
        note = county if county is not None else "absent"
        emit("id_number", value, accepts, stdnum.cn.ric.compact(value) if accepts else None, note)

    for value in credit_codes(rng):
        accepts = stdnum.cn.uscc.is_valid(value)
        emit("credit_code", value, accepts, stdnum.cn.uscc.compact(value) if accepts else None)

    mobile_types = (T.MOBILE, T.FIXED_LINE_OR_MOBILE)
    for value in mobiles(rng):
        try:
            number = phonenumbers.parse(value, "CN")
            valid = phonenumbers.is_valid_number(number)
            mainland = number.country_code == 86
            accepts = valid and (not mainland or phonenumbers.number_type(number) in mobile_types)
            normal = None
            if accepts:
                normal = (str(number.national_number) if mainland
                          else phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
        except phonenumbers.NumberParseException:
            accepts, normal = False, None
        emit("mobile", value, accepts, normal)

    line_types = (T.FIXED_LINE, T.FIXED_LINE_OR_MOBILE, T.TOLL_FREE, T.SHARED_COST, T.UAN)
    for value in landlines(rng):
        try:
            number = phonenumbers.parse(value, "CN")
            accepts = phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in line_types
        except phonenumbers.NumberParseException:
            accepts = False
        emit("landline", value, accepts)

    for value in emails(rng):
        try:
            result = email_validator.validate_email(value, check_deliverability=False)
            emit("email", value, True, result.ascii_email.lower() if result.ascii_email else None)
        except email_validator.EmailNotValidError:
            emit("email", value, False)


if __name__ == "__main__":
    main()
