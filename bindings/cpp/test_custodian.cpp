/* Every method of the C++ wrapper (bindings/cpp/custodian.hpp): the happy path, the
 * exception each failure throws (status, rule, message), text that C cannot carry,
 * std::string_view arguments that are not NUL-terminated, move semantics of every handle,
 * list iteration, import reports, backups (full, increment, chains), restores, rotation,
 * and checkpoint/receipt sinks whose lifetime the wrapper manages.
 *
 * Usage: test_custodian <empty-directory>
 * Driven by tests/cpp_binding.rs, also under valgrind and with ASan/UBSan. */
#include "custodian.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

using custodian::error;

static int checks = 0;
static int failures = 0;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        checks++;                                                                            \
        if (!(cond)) {                                                                       \
            failures++;                                                                      \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
        }                                                                                    \
    } while (0)

/* Runs `stmt`, which must throw custodian::error with status `want`; yields the error. */
#define CHECK_THROWS(stmt, want) expect_error([&] { (void)(stmt); }, (want), #stmt, __FILE__, __LINE__)

template <typename F>
static std::optional<error> expect_error(F&& body, cust_status want, const char* what, const char* file, int line) {
    checks++;
    try {
        body();
    } catch (const error& e) {
        if (e.status() != want) {
            failures++;
            std::fprintf(stderr, "%s:%d: %s threw status %u (%s), wanted %u: %s\n", file, line, what,
                         static_cast<unsigned>(e.status()), std::string(e.status_text()).c_str(),
                         static_cast<unsigned>(want), e.what());
        }
        return e;
    } catch (const std::exception& e) {
        failures++;
        std::fprintf(stderr, "%s:%d: %s threw a non-custodian exception: %s\n", file, line, what, e.what());
        return std::nullopt;
    }
    failures++;
    std::fprintf(stderr, "%s:%d: %s did not throw\n", file, line, what);
    return std::nullopt;
}

static bool contains(const std::string& haystack, const char* needle) {
    return haystack.find(needle) != std::string::npos;
}

static const std::array<uint8_t, 32> KEY = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                            7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
static const std::vector<uint8_t> NEW_KEY(32, 9);
static const uint8_t WRONG_KEY[32] = {8};
static const char BAD_UTF8[] = {'\xff', '\xfe', 'a', 0};
static const std::string_view WITH_NUL("KH\0001", 4);

static std::string path_in(const std::string& dir, const char* name) { return dir + "/" + name; }

static_assert(!std::is_copy_constructible_v<custodian::store>, "store is move-only");
static_assert(!std::is_copy_assignable_v<custodian::session>, "session is move-only");
static_assert(!std::is_copy_constructible_v<custodian::customer>, "customer is move-only");
static_assert(!std::is_copy_constructible_v<custodian::customer_list>, "list is move-only");
static_assert(!std::is_copy_constructible_v<custodian::input>, "input is move-only");
static_assert(!std::is_copy_constructible_v<custodian::import_report>, "report is move-only");
static_assert(!std::is_copy_constructible_v<custodian::secret_bytes>, "secrets are move-only");
static_assert(std::is_nothrow_move_constructible_v<custodian::store> &&
                  std::is_nothrow_move_assignable_v<custodian::store> &&
                  std::is_nothrow_move_constructible_v<custodian::session> &&
                  std::is_nothrow_move_constructible_v<custodian::customer> &&
                  std::is_nothrow_move_assignable_v<custodian::customer> &&
                  std::is_nothrow_move_constructible_v<custodian::customer_list> &&
                  std::is_nothrow_move_constructible_v<custodian::input> &&
                  std::is_nothrow_move_constructible_v<custodian::import_report>,
              "handles move without throwing");
static_assert(std::is_base_of_v<std::runtime_error, error>, "error is a std::runtime_error");

static void test_basics() {
    CHECK(custodian::version() == CUST_VERSION_STRING);
    CHECK(custodian::status_str(CUST_STATUS_OK) == "ok");
    CHECK(custodian::status_str(CUST_STATUS_DENIED) == "access denied");
    CHECK(custodian::status_str(static_cast<cust_status>(9999)) == "unknown status");

    /* The rule at the end of a message; a denial's rule; none. */
    error invalid(CUST_STATUS_INVALID, "invalid value for field 'mobile': not a number (rule mobile_format)");
    CHECK(invalid.status() == CUST_STATUS_INVALID && invalid.rule() == "mobile_format");
    CHECK(invalid.message() == invalid.what() && invalid.status_text() == "invalid input");
    error denied(CUST_STATUS_DENIED, "access denied by rule builtin.customer_service.no_delete: not allowed");
    CHECK(denied.rule() == "builtin.customer_service.no_delete");
    error plain(CUST_STATUS_NOT_FOUND, "customer 4 not found");
    CHECK(plain.rule().empty());
    CHECK(error::parse_rule("x (rule a) then (rule b_c.d)") == "b_c.d");
    CHECK(error::parse_rule("(rule )").empty() && error::parse_rule("(rule unterminated").empty());

    /* Out-of-range codes, invalid UTF-8 and NUL bytes in an input. */
    CHECK_THROWS(custodian::input(static_cast<cust_kind>(7)), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(contains(custodian::last_error(), "kind"));
    custodian::input input;
    CHECK(static_cast<bool>(input) && input.native_handle() != nullptr);
    CHECK_THROWS(input.set(static_cast<cust_field>(999), "x"), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_THROWS(input.set(CUST_FIELD_NAME, BAD_UTF8), CUST_STATUS_INVALID_UTF8);
    auto nul = CHECK_THROWS(input.set(CUST_FIELD_EXTERNAL_CODE, WITH_NUL), CUST_STATUS_INVALID);
    CHECK(nul && nul->rule() == "nul_byte" && contains(nul->message(), "'value'"));
    input.set(CUST_FIELD_NAME, "王五").set(CUST_FIELD_NAME, "李四").clear(CUST_FIELD_MOBILE);
    custodian::input organisation(CUST_KIND_ORGANISATION);

    /* Moving an input leaves the source empty: using it is a NULL argument. */
    custodian::input moved(std::move(input));
    CHECK(moved && !input);
    CHECK_THROWS(input.set(CUST_FIELD_NAME, "x"), CUST_STATUS_NULL_ARGUMENT);
    input = std::move(moved);
    CHECK(input && !moved);

    /* Empty handles: zero sizes, NULL-argument errors. */
    custodian::customer_list no_list;
    CHECK(no_list.size() == 0 && no_list.total() == 0 && no_list.empty() && !no_list);
    CHECK(no_list.begin() == no_list.end());
    CHECK_THROWS(no_list.at(0), CUST_STATUS_NULL_ARGUMENT);
    custodian::import_report no_report;
    CHECK(no_report.size() == 0 && no_report.matched_size() == 0 && !no_report);
    CHECK(no_report.rows().empty() && no_report.matches().empty());
    CHECK_THROWS(no_report.row(0), CUST_STATUS_NULL_ARGUMENT);
    custodian::customer no_customer;
    CHECK(no_customer.id() == 0 && no_customer.version() == 0 && !no_customer);
    CHECK_THROWS(no_customer.field(CUST_FIELD_NAME), CUST_STATUS_NULL_ARGUMENT);
    CHECK_THROWS(no_customer.to_json(), CUST_STATUS_NULL_ARGUMENT);
    custodian::session no_session;
    CHECK(!no_session && no_session.native_handle() == nullptr);
    CHECK_THROWS(no_session.mfa(), CUST_STATUS_NULL_ARGUMENT);
    CHECK_THROWS(no_session.last_error(), CUST_STATUS_NULL_ARGUMENT);
    CHECK_THROWS(no_session.get(1), CUST_STATUS_NULL_ARGUMENT);
    custodian::store no_store;
    CHECK(!no_store && no_store.native_handle() == nullptr);
    CHECK_THROWS(no_store.checkpoint(), CUST_STATUS_NULL_ARGUMENT);
    CHECK_THROWS(no_store.last_error(), CUST_STATUS_NULL_ARGUMENT);
    CHECK_THROWS(no_store.open_session("admin", "service"), CUST_STATUS_NULL_ARGUMENT);
}

static void test_store_lifecycle(const std::string& dir) {
    const std::string path = path_in(dir, "lifecycle"), other = path_in(dir, "pass");
    const std::vector<uint8_t> short_key(31, 7);

    CHECK_THROWS(custodian::store::create(path, short_key), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_THROWS(custodian::store::create(path, custodian::key_view(KEY.data(), 0)), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_THROWS(custodian::store::create(BAD_UTF8, KEY), CUST_STATUS_INVALID_UTF8);
    auto nul = CHECK_THROWS(custodian::store::create(std::string("a\0b", 3), KEY), CUST_STATUS_INVALID);
    CHECK(nul && nul->rule() == "nul_byte" && contains(nul->message(), "'dir'"));
    CHECK_THROWS(custodian::store::open(path, KEY), CUST_STATUS_NOT_A_STORE);

    /* A directory name passed as a view into a longer string: only the view is used. */
    const std::string padded = path + "-and-more";
    custodian::store store = custodian::store::create(std::string_view(padded.data(), path.size()), KEY);
    CHECK(store && store.native_handle() != nullptr);
    CHECK_THROWS(custodian::store::create(path, KEY), CUST_STATUS_ALREADY_EXISTS);
    store.close();
    CHECK(!store);
    store.close(); /* twice is harmless */

    auto wrong = CHECK_THROWS(custodian::store::open(path, WRONG_KEY), CUST_STATUS_WRONG_KEY);
    CHECK(wrong && contains(wrong->message(), "wrong master key"));
    store = custodian::store::open(path, custodian::key_view(KEY.data(), KEY.size()));
    const uint64_t entries = store.verify_audit();
    const std::string checkpoint = store.checkpoint();
    CHECK(contains(checkpoint, "custodian"));
    CHECK(store.verify_audit(checkpoint) >= entries);
    auto bad = CHECK_THROWS(store.verify_audit(std::string_view("not a checkpoint")), CUST_STATUS_INVALID);
    CHECK(bad && contains(store.last_error(), "checkpoint") && store.last_error() == bad->message());

    /* Moves: construction, assignment (which closes the target's store), self-use after. */
    custodian::store moved(std::move(store));
    CHECK(moved && !store);
    CHECK_THROWS(store.verify_audit(), CUST_STATUS_NULL_ARGUMENT);
    CHECK(moved.verify_audit() >= entries);
    store = std::move(moved);
    CHECK(store && !moved);
    custodian::store second = custodian::store::open(path, KEY);
    store = std::move(second); /* the first handle is closed here */
    CHECK(store.verify_audit() >= entries && !second);
    store.close();

    /* A passphrase store (the lowest iteration count accepted keeps the test fast). */
    CHECK_THROWS(custodian::store::create(other, custodian::passphrase("short"), 100000), CUST_STATUS_INVALID);
    CHECK_THROWS(custodian::store::create(other, custodian::passphrase("a long passphrase 2026"), 99999),
                 CUST_STATUS_INVALID_ARGUMENT);
    auto nul_pass = CHECK_THROWS(custodian::store::create(other, custodian::passphrase(std::string_view("a\0b", 3))),
                                 CUST_STATUS_INVALID);
    CHECK(nul_pass && contains(nul_pass->message(), "'passphrase'"));
    store = custodian::store::create(other, custodian::passphrase("a long passphrase 2026"), 100000);
    store.close();
    CHECK_THROWS(custodian::store::open(other, custodian::passphrase("another long passphrase")),
                 CUST_STATUS_WRONG_KEY);
    store = custodian::store::open(other, custodian::passphrase("a long passphrase 2026"));
    CHECK(store);
}

/* A fresh store with an administrator, a clerk and a marketer. */
static custodian::store provisioned(const std::string& dir, const char* name) {
    custodian::store store = custodian::store::create(path_in(dir, name), KEY);
    store.set_login_policy(3, 600, 100000);
    CHECK_THROWS(store.set_login_policy(3, 600, 99999), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_THROWS(store.bootstrap_admin("", "x"), CUST_STATUS_INVALID);
    store.bootstrap_admin("admin", "Administrator");
    auto second = CHECK_THROWS(store.bootstrap_admin("second", "x"), CUST_STATUS_DENIED);
    CHECK(second && !second->rule().empty());
    {
        custodian::session admin = store.open_session("admin", "maintenance", true);
        admin.register_principal("clerk", "李娜");
        admin.grant("clerk", "customer_service");
        admin.register_principal("marketer", "陈晨");
        admin.grant("marketer", "marketing");
    }
    store.set_login_policy(3, 600, 100000); /* again, now that no session is open */
    {
        custodian::session open = store.open_session("admin", "maintenance", true);
        CHECK_THROWS(store.set_login_policy(3, 600, 100000), CUST_STATUS_INVALID); /* a session is open */
    }
    return store;
}

static custodian::input person(std::string_view code, std::string_view name, std::string_view mobile) {
    custodian::input input(CUST_KIND_INDIVIDUAL);
    input.set(CUST_FIELD_EXTERNAL_CODE, code).set(CUST_FIELD_NAME, name).set(CUST_FIELD_MOBILE, mobile);
    return input;
}

static void test_customers(const std::string& dir) {
    custodian::store store = provisioned(dir, "customers");

    CHECK_THROWS(store.open_session("ghost", "service"), CUST_STATUS_DENIED);
    CHECK_THROWS(store.open_session("clerk", "no such purpose!"), CUST_STATUS_INVALID);
    CHECK_THROWS(store.open_session(BAD_UTF8, "service"), CUST_STATUS_INVALID_UTF8);
    CHECK_THROWS(store.open_session(std::string("clerk\0", 6), "service"), CUST_STATUS_INVALID);
    custodian::session clerk = store.open_session("clerk", "service");
    custodian::session admin = store.open_session("admin", "service", true, 1700000000000);
    CHECK(admin.mfa() && !clerk.mfa());

    /* Create: a bad mobile is refused with the field and rule, the value never in the message. */
    auto refused = CHECK_THROWS(clerk.create(person("KH001", "王五", "12345")), CUST_STATUS_INVALID);
    CHECK(refused && contains(refused->message(), "mobile") && !contains(refused->message(), "12345"));
    CHECK(refused && !refused->rule().empty() && contains(refused->message(), refused->rule().c_str()));
    CHECK(refused && clerk.last_error() == refused->message());
    CHECK_THROWS(clerk.create(custodian::input()), CUST_STATUS_INVALID); /* no name */

    custodian::input input = person("KH001", "王五", "+86 138-1234-5678");
    input.set(CUST_FIELD_ID_NUMBER, "11010519491231002X").set(CUST_FIELD_EMAIL, "Wang.Wu@Example.com");
    custodian::customer customer = clerk.create(input);
    const int64_t id = customer.id();
    CHECK(id > 0 && customer.version() == 1);

    /* Typed accessors: plain, masked, absent. */
    custodian::field_value name = customer.field(CUST_FIELD_NAME);
    CHECK(name.text == "王五" && name.shown == CUST_SHOWN_PLAIN);
    CHECK(customer.text(CUST_FIELD_MOBILE) == "13812345678");
    custodian::field_value id_number = customer.field(CUST_FIELD_ID_NUMBER);
    CHECK(id_number.text == "1101**********002X" && id_number.shown == CUST_SHOWN_MASKED);
    CHECK(customer.value(CUST_FIELD_ID_NUMBER) == std::optional<std::string>("1101**********002X"));
    custodian::field_value address = customer.field(CUST_FIELD_ADDRESS);
    CHECK(address.text.empty() && address.shown == CUST_SHOWN_ABSENT);
    CHECK(!customer.value(CUST_FIELD_ADDRESS).has_value());
    CHECK(customer.text(CUST_FIELD_EMAIL) == "wang.wu@example.com");
    CHECK(customer.text(CUST_FIELD_STATUS) == "active" && customer.text(CUST_FIELD_VERSION) == "1");
    CHECK_THROWS(customer.field(static_cast<cust_field>(12345)), CUST_STATUS_INVALID_ARGUMENT);
    const std::string json = customer.to_json();
    CHECK(contains(json, "\"name\":\"王五\"") && contains(json, "\"masked\":["));

    /* Moving a customer: the target owns it, the source is empty. */
    custodian::customer taken(std::move(customer));
    CHECK(taken.id() == id && customer.id() == 0 && !customer);
    customer = std::move(taken);
    CHECK(customer.id() == id && !taken);
    custodian::customer_ref borrowed = customer;
    CHECK(borrowed.id() == id && borrowed.native_handle() == customer.native_handle());

    /* Reads and lookups. */
    CHECK(admin.get(id).text(CUST_FIELD_ID_NUMBER) == "11010519491231002X");
    CHECK_THROWS(clerk.get(424242), CUST_STATUS_NOT_FOUND);
    CHECK_THROWS(clerk.get_by_code("NOPE"), CUST_STATUS_CODE_NOT_FOUND);
    CHECK_THROWS(clerk.get_by_code(BAD_UTF8), CUST_STATUS_INVALID_UTF8);
    CHECK_THROWS(clerk.get_by_code(WITH_NUL), CUST_STATUS_INVALID);
    const std::string codes = "KH001KH002";
    CHECK(clerk.get_by_code(std::string_view(codes).substr(0, 5)).id() == id);
    CHECK_THROWS(clerk.create(person("KH001", "重复", "13900000009")), CUST_STATUS_DUPLICATE_CODE);

    custodian::customer li =
        clerk.create_json(R"({"fields":{"external_code":"KH002","name":"李四","mobile":"13900000002"}})");
    CHECK(li.text(CUST_FIELD_NAME) == "李四");
    CHECK_THROWS(clerk.create_json(R"({"fields":{"no_such_field":"x"}})"), CUST_STATUS_UNKNOWN_FIELD);
    CHECK_THROWS(clerk.create_json("[1,2"), CUST_STATUS_INVALID);
    CHECK_THROWS(clerk.create_json(R"({"kind":"robot","fields":{}})"), CUST_STATUS_INVALID);

    /* find, list, iteration, search. */
    CHECK_THROWS(clerk.find(CUST_FIELD_NAME, "王五"), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_THROWS(clerk.find(CUST_FIELD_MOBILE, "' OR 1=1 --"), CUST_STATUS_INVALID);
    CHECK(clerk.find(CUST_FIELD_MOBILE, "138 1234 5678").size() == 1);
    custodian::customer_list list = clerk.list(CUST_FIELD_NAME, false, 0, 10);
    CHECK(list && list.size() == 2 && list.total() == 2 && !list.empty() && list.native_handle() != nullptr);
    CHECK(list[0].text(CUST_FIELD_NAME) == "李四" && list.at(1).text(CUST_FIELD_NAME) == "王五");
    CHECK_THROWS(list.at(2), CUST_STATUS_INVALID_ARGUMENT);
    std::vector<std::string> names;
    for (custodian::customer_ref each : list) names.push_back(each.text(CUST_FIELD_NAME));
    CHECK(names == (std::vector<std::string>{"李四", "王五"}));
    CHECK(std::distance(list.begin(), list.end()) == 2);
    auto it = list.begin();
    CHECK((*it++).id() == li.id() && (*it).id() == id && ++it == list.end() && it != list.begin());
    custodian::customer_list moved_list(std::move(list));
    CHECK(moved_list.size() == 2 && list.size() == 0 && !list);
    list = std::move(moved_list);
    CHECK(list.size() == 2);
    CHECK_THROWS(clerk.list(CUST_FIELD_NAME, true, 0, 0), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_THROWS(clerk.list(static_cast<cust_field>(77)), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(clerk.list(CUST_FIELD_NAME, true)[0].text(CUST_FIELD_NAME) == "王五");
    CHECK(clerk.list(CUST_FIELD_NAME, false, 1, 1).size() == 1 && clerk.list(CUST_FIELD_NAME, false, 1, 1).total() == 2);
    custodian::list_filter individuals;
    individuals.kind = "individual";
    CHECK(clerk.list_filtered(CUST_FIELD_NAME, false, 0, 10, individuals).total() == 2);
    custodian::list_filter organisations;
    organisations.kind = "organisation";
    CHECK(clerk.list_filtered(CUST_FIELD_NAME, false, 0, 10, organisations).empty());
    custodian::list_filter category;
    category.category = "no such category";
    CHECK(clerk.list_filtered(CUST_FIELD_NAME, false, 0, 10, category).total() == 0);
    CHECK(clerk.list_filtered(CUST_FIELD_NAME, false, 0, 10, custodian::list_filter()).total() == 2);
    custodian::list_filter bad_filter;
    bad_filter.tier = std::string_view(BAD_UTF8);
    CHECK_THROWS(clerk.list_filtered(CUST_FIELD_NAME, false, 0, 10, bad_filter), CUST_STATUS_INVALID_UTF8);
    bad_filter.tier = std::nullopt;
    bad_filter.source = WITH_NUL;
    CHECK_THROWS(clerk.list_filtered(CUST_FIELD_NAME, false, 0, 10, bad_filter), CUST_STATUS_INVALID);
    CHECK(clerk.search("李").size() == 1);
    CHECK_THROWS(clerk.search(""), CUST_STATUS_INVALID);

    /* Update with a version; a stale version is refused and changes nothing. */
    custodian::input patch;
    patch.set(CUST_FIELD_TITLE, "经理").clear(CUST_FIELD_EMAIL);
    custodian::customer updated = clerk.update(id, 1, patch);
    CHECK(updated.version() == 2 && updated.field(CUST_FIELD_EMAIL).shown == CUST_SHOWN_ABSENT);
    CHECK(updated.text(CUST_FIELD_TITLE) == "经理");
    auto conflict = CHECK_THROWS(clerk.update(id, 1, patch), CUST_STATUS_VERSION_CONFLICT);
    CHECK(conflict && contains(conflict->message(), "expected version 1, current version 2"));
    custodian::input spent(std::move(patch));
    CHECK(spent && !patch && spent.native_handle() != nullptr);
    CHECK_THROWS(clerk.update(id, 2, patch), CUST_STATUS_NULL_ARGUMENT); /* moved from */
    admin.verify(id, 2);
    CHECK_THROWS(admin.verify(id, 1), CUST_STATUS_VERSION_CONFLICT);

    /* Delete: customer service may not; the administrator may. */
    auto no_delete = CHECK_THROWS(clerk.remove(id), CUST_STATUS_DENIED);
    CHECK(no_delete && no_delete->rule() == "builtin.customer_service.no_delete");
    admin.remove(id);
    CHECK_THROWS(admin.remove(id), CUST_STATUS_NOT_FOUND);

    /* Sessions move; closing one makes it empty. */
    custodian::session moved_session(std::move(clerk));
    CHECK(moved_session && !clerk);
    CHECK_THROWS(clerk.search("李"), CUST_STATUS_NULL_ARGUMENT);
    clerk = std::move(moved_session);
    CHECK(clerk.search("李").size() == 1);
    clerk.close();
    CHECK(!clerk);
    CHECK_THROWS(clerk.get(li.id()), CUST_STATUS_NULL_ARGUMENT);
}

static void test_principals_consent_audit(const std::string& dir) {
    custodian::store store = provisioned(dir, "governance");
    custodian::session admin = store.open_session("admin", "maintenance", true);
    CHECK_THROWS(admin.register_principal("clerk", "dup"), CUST_STATUS_INVALID);
    CHECK_THROWS(admin.grant("clerk", "no_such_role"), CUST_STATUS_INVALID);
    CHECK_THROWS(admin.grant("clerk", "Not A Role"), CUST_STATUS_INVALID);
    admin.register_principal("kiosk", "Counter kiosk", true);
    admin.grant("kiosk", "customer_service");
    admin.set_password("kiosk", "kiosk password 2026");
    CHECK_THROWS(admin.set_password("kiosk", "short"), CUST_STATUS_INVALID);
    CHECK_THROWS(admin.set_password("kiosk", std::string_view("kiosk\0password 2026", 19)), CUST_STATUS_INVALID);

    /* Login: password only (no TOTP enrolled) gives a single-factor session. */
    auto failed = CHECK_THROWS(store.login("kiosk", "wrong password!", "service"), CUST_STATUS_DENIED);
    CHECK(failed && failed->rule() == "login.failed");
    custodian::session login = store.login("kiosk", "kiosk password 2026", "service");
    CHECK(!login.mfa());
    login.close();
    for (int i = 0; i < 3; i++) CHECK_THROWS(store.login("kiosk", "wrong password!", "service"), CUST_STATUS_DENIED);
    auto locked = CHECK_THROWS(store.login("kiosk", "kiosk password 2026", "service"), CUST_STATUS_DENIED);
    CHECK(locked && locked->rule() == "login.locked");
    admin.unlock("kiosk");
    login = store.login("kiosk", "kiosk password 2026", "service", std::nullopt);
    CHECK_THROWS(store.login("kiosk", "x", "service", std::string_view(BAD_UTF8)), CUST_STATUS_INVALID_UTF8);

    custodian::secret_bytes secret = admin.enrol_totp("kiosk");
    CHECK(secret.size() == 20 && !secret.empty() && secret.data() != nullptr);
    uint8_t any = 0;
    for (std::size_t i = 0; i < secret.size(); ++i) any |= secret[i];
    CHECK(any != 0);
    custodian::secret_bytes kept_secret(std::move(secret));
    CHECK(kept_secret.size() == 20 && secret.empty());
    secret = std::move(kept_secret);
    CHECK(secret.size() == 20 && kept_secret.empty());
    CHECK_THROWS(admin.enrol_totp("nobody"), CUST_STATUS_INVALID);
    /* With TOTP enrolled, a login without the code is refused. */
    CHECK_THROWS(store.login("kiosk", "kiosk password 2026", "service"), CUST_STATUS_DENIED);
    CHECK_THROWS(store.login("kiosk", "kiosk password 2026", "service", std::string_view("000000")),
                 CUST_STATUS_DENIED);
    admin.unlock("kiosk");

    /* Consent and the marketing session. */
    custodian::session clerk = store.open_session("clerk", "service");
    const int64_t id = clerk.create(person("KH100", "赵敏", "13700000001")).id();
    custodian::session marketer = store.open_marketing_session("marketer", "sms");
    CHECK_THROWS(store.open_marketing_session("marketer", "pigeon"), CUST_STATUS_INVALID);
    CHECK_THROWS(marketer.get(id), CUST_STATUS_DENIED);
    CHECK_THROWS(clerk.record_consent(id, "marketing", "sms", true, "counter; DROP TABLE", "v1"),
                 CUST_STATUS_INVALID);
    clerk.record_consent(id, "marketing", "sms", true, "counter", "v1");
    CHECK(marketer.get(id).id() == id);
    clerk.record_consent(id, "marketing", "sms", false, "call", "v1");
    CHECK_THROWS(marketer.get(id), CUST_STATUS_DENIED);
    const std::string consents = clerk.consents_json(id);
    CHECK(contains(consents, "\"granted\":true") && contains(consents, "\"granted\":false"));

    /* Roles, revocation, access review and the audit log. */
    admin.define_role_json(
        R"({"name":"support_lead","description":"second line","rules":[{"id":"support.read","actions":["read"],)"
        R"("purposes":["service"],"levels":["L2","L3"],"fields":[],"effect":"allow"}]})");
    CHECK_THROWS(admin.define_role_json("{not json"), CUST_STATUS_INVALID);
    admin.grant("kiosk", "support_lead", 4102444800000);
    admin.revoke_role("kiosk", "support_lead");
    CHECK_THROWS(admin.revoke_role("kiosk", "support_lead"), CUST_STATUS_INVALID);
    admin.revoke_principal("kiosk", "left the company");
    auto revoked = CHECK_THROWS(login.list(CUST_FIELD_NAME), CUST_STATUS_DENIED);
    CHECK(revoked && revoked->rule() == "principal.revoked" && contains(login.last_error(), "principal.revoked"));
    login.close();

    CHECK_THROWS(clerk.access_review_json(30), CUST_STATUS_DENIED);
    const std::string review = admin.access_review_json(30);
    CHECK(contains(review, "\"id\":\"clerk\"") && contains(review, "\"stale_after_days\":30"));
    CHECK_THROWS(clerk.audit_query_json(), CUST_STATUS_DENIED);
    const std::string about = admin.audit_query_json(id, std::nullopt, 0, 0, 100);
    CHECK(contains(about, "customer.create") && !contains(about, "13700000001"));
    CHECK(contains(admin.audit_query_json(0, std::string_view("kiosk")), "principal.login"));
    CHECK_THROWS(admin.audit_query_json(0, std::nullopt, 0, 0, 10001), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(store.verify_audit() > 20);
}

/* A legacy khzl file: GBK text, NUL padding, an empty slot, a bad mobile. */
static void put(std::vector<uint8_t>& file, std::size_t offset, const char* bytes) {
    std::memcpy(file.data() + offset, bytes, std::strlen(bytes));
}

static void test_legacy_import(const std::string& dir) {
    custodian::store store = provisioned(dir, "legacy");
    custodian::session admin = store.open_session("admin", "service", true);
    const std::size_t mobile = 10 + 15 + 40 + 15 + 15;
    std::vector<uint8_t> file(3 * 220, 0);
    put(file, 0, "KH01");
    put(file, 10, "\xcd\xf5\xce\xe5"); /* 王五 */
    put(file, mobile, "13800000001");
    put(file, 220, "-1");
    put(file, 440, "KH02");
    put(file, 440 + 10, "\xc0\xee\xcb\xc4"); /* 李四 */
    put(file, 440 + mobile, "12345");

    auto truncated = CHECK_THROWS(admin.import_khzl(file.data(), file.size() - 7), CUST_STATUS_INVALID);
    CHECK(truncated && contains(truncated->message(), "truncated"));
    CHECK_THROWS(admin.import_khzl(nullptr, 220), CUST_STATUS_NULL_ARGUMENT);
    CHECK_THROWS(admin.import_khzl(std::vector<uint8_t>()), CUST_STATUS_INVALID); /* empty file */
    CHECK(admin.list(CUST_FIELD_NAME).total() == 0);

    custodian::import_report report = admin.import_khzl(file);
    CHECK(report && report.size() == 2 && report.matched_size() == 0 && report.native_handle() != nullptr);
    custodian::import_row first = report.row(0);
    CHECK(first.slot == 1 && first.verified && first.problems.empty() && first.customer > 0);
    const int64_t customer_id = first.customer;
    custodian::import_row second = report.row(1);
    CHECK(second.slot == 3 && !second.verified && second.problems.size() == 1);
    CHECK(second.problems.size() == 1 && contains(second.problems[0], "mobile") &&
          !contains(second.problems[0], "12345"));
    CHECK(report.problem(1, 0) == second.problems.at(0));
    CHECK_THROWS(report.problem(1, 1), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_THROWS(report.row(2), CUST_STATUS_INVALID_ARGUMENT);
    std::vector<custodian::import_row> rows = report.rows();
    CHECK(rows.size() == 2 && rows[1].slot == 3 && rows[0].customer == customer_id);
    CHECK(report.matches().empty());
    const custodian::import_counts legacy = report.counts();
    CHECK(legacy.created == 2 && legacy.verified == 1 && legacy.already_present == 0 && legacy.rejected == 0);
    custodian::import_report moved(std::move(report));
    CHECK(moved.size() == 2 && report.size() == 0 && !report);
    CHECK_THROWS(report.counts(), CUST_STATUS_NULL_ARGUMENT);

    /* The same file again: nothing is doubled, both records are already present. */
    report = admin.import_khzl(file);
    CHECK(report.size() == 0 && report.matched_size() == 2);
    custodian::import_match present = report.matched(0);
    CHECK(present.slot == 1 && present.customer == customer_id && present.outcome == CUST_MATCH_PRESENT &&
          present.fields.empty());
    CHECK_THROWS(report.matched(2), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(report.matches().size() == 2 && report.matches()[1].slot == 3);

    /* A changed record is a conflict naming the field, and changes nothing... */
    put(file, 10, "\xd5\xc5\xc8\xfd"); /* 张三 */
    report = admin.import_khzl(file);
    custodian::import_match conflict = report.matched(0);
    CHECK(report.size() == 0 && conflict.outcome == CUST_MATCH_CONFLICT && conflict.fields == "name");
    CHECK(admin.get(customer_id).text(CUST_FIELD_NAME) == "王五");
    /* ...unless an update is asked for. */
    report = admin.import_khzl_update(file);
    custodian::import_match updated = report.matched(0);
    CHECK(updated.outcome == CUST_MATCH_UPDATED && updated.fields == "name");
    CHECK(admin.get(customer_id).text(CUST_FIELD_NAME) == "张三");
    report = admin.import_khzl_update(file.data(), file.size());
    CHECK(report.matched(0).outcome == CUST_MATCH_PRESENT);
    CHECK_THROWS(custodian::session().import_khzl_update(file), CUST_STATUS_NULL_ARGUMENT);

    custodian::customer_list list = admin.list(CUST_FIELD_NAME, false, 0, 10);
    CHECK(list.total() == 2);
    CHECK(list[0].text(CUST_FIELD_NAME) == "李四" && list[0].text(CUST_FIELD_STATUS) == "unverified");
}

/* Two threads on one store, each with its own session; the store's sinks are called from both. */
static void test_threads(const std::string& dir) {
    custodian::store store = provisioned(dir, "threads");
    std::vector<int> thread_failures(2, 0);
    std::vector<std::thread> threads;
    for (int index = 1; index <= 2; ++index) {
        threads.emplace_back([&store, &thread_failures, index] {
            try {
                custodian::session session = store.open_session("clerk", "service");
                for (int i = 0; i < 20; i++) {
                    char code[32], mobile[32];
                    std::snprintf(code, sizeof code, "T%d-%02d", index, i);
                    std::snprintf(mobile, sizeof mobile, "1370%d%06d", index, i);
                    custodian::customer made = session.create(person(code, "线程客户", mobile));
                    if (session.get(made.id()).id() != made.id()) thread_failures[index - 1]++;
                }
                /* A failure on this thread carries this thread's message. */
                try {
                    session.get(987654);
                    thread_failures[index - 1]++;
                } catch (const error& e) {
                    if (e.status() != CUST_STATUS_NOT_FOUND || !contains(e.message(), "987654")) {
                        thread_failures[index - 1]++;
                    }
                }
            } catch (const std::exception& e) {
                std::fprintf(stderr, "thread %d: %s\n", index, e.what());
                thread_failures[index - 1]++;
            }
        });
    }
    for (std::thread& thread : threads) thread.join();
    CHECK(thread_failures[0] == 0 && thread_failures[1] == 0);
    CHECK(store.verify_audit() > 40);
    custodian::session admin = store.open_session("admin", "service", true);
    CHECK(admin.list(CUST_FIELD_EXTERNAL_CODE, false, 0, 100).total() == 40);
}

/* What a host keeps outside the store: the last checkpoint, every receipt. */
struct outside {
    std::mutex lock;
    std::string checkpoint;
    std::string receipts;
    int checkpoints = 0;
    int receipt_count = 0;
};

static void test_lifecycle(const std::string& dir) {
    const std::string path = path_in(dir, "lifecycle-store"), backup = path_in(dir, "lifecycle-backup"),
                      restored = path_in(dir, "lifecycle-restored");
    custodian::store store = provisioned(dir, "lifecycle-store");
    static outside kept;
    CHECK_THROWS(custodian::store().set_checkpoints(1, 60), CUST_STATUS_NULL_ARGUMENT);
    auto keep_checkpoint = [](std::string_view text) {
        std::lock_guard<std::mutex> guard(kept.lock);
        kept.checkpoint.assign(text);
        kept.checkpoints++;
    };
    auto keep_receipt = [](std::string_view text) {
        std::lock_guard<std::mutex> guard(kept.lock);
        kept.receipts.append(text);
        kept.receipt_count++;
    };
    store.set_checkpoints(1, 60, keep_checkpoint, keep_receipt);
    /* Setting them again before any session replaces them (the first ones are released). */
    store.set_checkpoints(1, 60, nullptr, nullptr);
    store.set_checkpoints(1, 60, keep_checkpoint, keep_receipt);

    custodian::session compliance = store.open_session("admin", "compliance", true);
    custodian::session clerk = store.open_session("clerk", "service");
    CHECK_THROWS(store.set_checkpoints(1, 60), CUST_STATUS_INVALID); /* sessions are open */
    const int64_t id = clerk.create(person("KH500", "周洁", "13600000001")).id();
    const int64_t other = clerk.create(person("KH501", "吴昊", "13600000002")).id();
    {
        std::lock_guard<std::mutex> guard(kept.lock);
        CHECK(kept.checkpoints > 0 && contains(kept.checkpoint, "custodian audit checkpoint v1"));
    }

    /* Export, rectify, restrict. */
    CHECK_THROWS(clerk.export_json(id), CUST_STATUS_DENIED);
    const std::string exported = compliance.export_json(id);
    CHECK(contains(exported, "\"access_history\"") && contains(exported, "customer.create"));
    custodian::input patch;
    patch.set(CUST_FIELD_EMAIL, "zhou.jie@example.com");
    CHECK(compliance.rectify(id, 1, patch, "dsr-1").version() == 2);
    CHECK_THROWS(compliance.rectify(id, 1, patch, "dsr-1"), CUST_STATUS_VERSION_CONFLICT);
    CHECK_THROWS(compliance.rectify(id, 2, patch, WITH_NUL), CUST_STATUS_INVALID);
    compliance.restrict_processing(id, "objection-1");
    auto restricted = CHECK_THROWS(clerk.get(id), CUST_STATUS_DENIED);
    CHECK(restricted && restricted->rule() == "subject.restricted");
    compliance.lift_restriction(id);
    CHECK(clerk.get(id).id() == id);
    CHECK_THROWS(compliance.lift_restriction(id), CUST_STATUS_INVALID);

    /* A backup before the erasure. */
    const std::string manifest = store.backup(backup);
    CHECK(contains(manifest, "\"kind\":\"full\"") && contains(manifest, "\"key_generation\":1"));
    CHECK_THROWS(store.backup(backup), CUST_STATUS_ALREADY_EXISTS);
    CHECK(custodian::verify_backup(backup, KEY) == 2);
    auto foreign_key = CHECK_THROWS(custodian::verify_backup(backup, WRONG_KEY), CUST_STATUS_BACKUP_KEY);
    CHECK(foreign_key && contains(foreign_key->message(), "master-key generation 1"));
    /* The manifest reads without a key; damaged files have statuses of their own. */
    const std::string read_manifest = custodian::backup_manifest(backup);
    CHECK(contains(read_manifest, "\"store_id\":") && contains(read_manifest, "customers.db"));
    const std::string damaged = path_in(dir, "lifecycle-damaged");
    {
        std::ifstream in(backup, std::ios::binary);
        std::vector<char> head(300);
        in.read(head.data(), static_cast<std::streamsize>(head.size()));
        std::ofstream out(damaged, std::ios::binary);
        out.write(head.data(), in.gcount()); /* the header and a piece of the first chunk */
    }
    CHECK_THROWS(custodian::verify_backup(damaged, KEY), CUST_STATUS_BACKUP_TRUNCATED);
    CHECK_THROWS(custodian::backup_manifest(path), CUST_STATUS_STORAGE); /* a directory */
    CHECK_THROWS(custodian::verify_backup(path + "/customers.db", KEY), CUST_STATUS_NOT_A_BACKUP);

    /* Hold, erase (which hands a receipt to the sink), retention. */
    compliance.place_hold(id, "case-1");
    CHECK_THROWS(compliance.erase(id, "dsr-2"), CUST_STATUS_LEGAL_HOLD);
    compliance.lift_hold(id);
    CHECK_THROWS(clerk.erase(id, "dsr-2"), CUST_STATUS_DENIED);
    compliance.erase(id, "dsr-2");
    CHECK_THROWS(compliance.get(id), CUST_STATUS_NOT_FOUND);
    // Nothing held the logs: the erasure emptied them, no purge is owed.
    CHECK(!store.purge_owed());
    store.purge_logs();
    CHECK(!store.purge_owed());
    {
        std::lock_guard<std::mutex> guard(kept.lock);
        CHECK(kept.receipt_count == 1 && contains(kept.receipts, "custodian erasure receipt v1"));
    }
    compliance.define_retention_json(
        R"({"id":"all-now","rule":{"rule":"inactive_for","days":3650},"method":"crypto_shred"})");
    CHECK_THROWS(compliance.define_retention_json(R"({"id":"x"})"), CUST_STATUS_INVALID);
    CHECK(contains(compliance.retention_sweep_json(), "\"destroyed\":[]")); /* nothing is ten years old */

    /* Rotation while sessions are open: they go on working. */
    CHECK_THROWS(store.rotate_key(std::vector<uint8_t>(31, 9)), CUST_STATUS_INVALID_ARGUMENT);
    store.rotate_key(NEW_KEY);
    CHECK(clerk.get(other).id() == other);
    const int64_t late = clerk.create(person("KH502", "郑爽", "13600000003")).id();
    /* An increment over the full backup, under the rotated key. */
    const std::string increment = path_in(dir, "lifecycle-increment");
    const std::string inc_manifest = store.backup_increment(increment, backup);
    CHECK(contains(inc_manifest, "\"kind\":\"increment\"") && contains(inc_manifest, "\"key_generation\":2"));
    CHECK_THROWS(store.backup_increment(increment, backup), CUST_STATUS_ALREADY_EXISTS);
    CHECK_THROWS(store.backup_increment(path_in(dir, "nowhere-inc"), path_in(dir, "no-parent")),
                 CUST_STATUS_STORAGE);
    const std::vector<std::string> chain = {backup, increment}, reversed = {increment, backup};
    CHECK(custodian::verify_backup_chain(chain, NEW_KEY) == 2); /* one erased, one created */
    CHECK_THROWS(custodian::verify_backup_chain(reversed, NEW_KEY), CUST_STATUS_BACKUP_CHAIN);
    CHECK_THROWS(custodian::verify_backup_chain(chain, KEY), CUST_STATUS_BACKUP_KEY);
    CHECK_THROWS(custodian::verify_backup_chain({}, NEW_KEY), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_THROWS(custodian::verify_backup_chain({backup, std::string("x\0y", 3)}, NEW_KEY), CUST_STATUS_INVALID);
    const std::string extracted = path_in(dir, "lifecycle-extracted");
    custodian::extract_backup(chain, NEW_KEY, extracted);
    CHECK_THROWS(custodian::extract_backup(chain, NEW_KEY, extracted), CUST_STATUS_ALREADY_EXISTS);
    std::ifstream extracted_db(extracted + "/customers.db");
    CHECK(extracted_db.good());

    /* The store wrapper goes first; the sessions keep the store, and its sinks, alive. */
    store.close();
    compliance.erase(other, "dsr-3");
    {
        std::lock_guard<std::mutex> guard(kept.lock);
        CHECK(kept.receipt_count == 2);
    }
    CHECK_THROWS(compliance.get(other), CUST_STATUS_NOT_FOUND);
    clerk.close();
    compliance.close();
    CHECK_THROWS(custodian::store::open(path, KEY), CUST_STATUS_WRONG_KEY);
    custodian::store::open(path, NEW_KEY).close();

    /* The older backup (taken under the old key) restored into the live store:
     * only customer records are replaced; both erasures stand. */
    CHECK_THROWS(custodian::restore_rotated(backup, path, NEW_KEY, KEY), CUST_STATUS_BACKUP_KEY);
    CHECK_THROWS(custodian::restore_rotated(backup, path, std::vector<uint8_t>(31, 7), NEW_KEY),
                 CUST_STATUS_INVALID_ARGUMENT);
    const std::string rotated_report = custodian::restore_rotated(backup, path, KEY, NEW_KEY);
    CHECK(contains(rotated_report, "\"keys_restored\":false") && contains(rotated_report, "\"removed_by_ledger\":2"));
    {
        custodian::store live = custodian::store::open(path, NEW_KEY); /* still under the current key */
        custodian::session admin = live.open_session("admin", "service", true);
        CHECK_THROWS(admin.get(id), CUST_STATUS_NOT_FOUND);
        CHECK_THROWS(admin.get(other), CUST_STATUS_NOT_FOUND);
        CHECK_THROWS(admin.get(late), CUST_STATUS_NOT_FOUND); /* made after the backup */
        /* A restore into the open store is refused with a status of its own. */
        CHECK_THROWS(custodian::restore_chain(chain, path, NEW_KEY), CUST_STATUS_STORE_OPEN);
    }
    /* The full backup and its increment: the customer made before the increment is back. */
    CHECK_THROWS(custodian::restore_chain(reversed, path, NEW_KEY), CUST_STATUS_BACKUP_CHAIN);
    const std::string chain_report = custodian::restore_chain(chain, path, NEW_KEY);
    CHECK(contains(chain_report, "\"removed\":[]"));
    {
        custodian::store live = custodian::store::open(path, NEW_KEY);
        custodian::session admin = live.open_session("admin", "service", true);
        CHECK(admin.get(late).id() == late);
        CHECK_THROWS(admin.get(id), CUST_STATUS_NOT_FOUND); /* erased stays erased */
    }

    /* The store lost whole: refused without the host's outside record... */
    auto record_required = CHECK_THROWS(custodian::restore(backup, restored, KEY), CUST_STATUS_INVALID);
    CHECK(record_required && record_required->rule() == "outside_record_required");
    std::string checkpoint_text, receipts;
    {
        std::lock_guard<std::mutex> guard(kept.lock);
        checkpoint_text = kept.checkpoint;
        receipts = kept.receipts;
    }
    CHECK_THROWS(custodian::restore_after_loss(backup, restored, KEY, std::string_view("not a checkpoint"),
                                               std::nullopt),
                 CUST_STATUS_INVALID);
    /* ...and with it, the erased customers stay erased. */
    const std::string loss_report = custodian::restore_after_loss(backup, restored, KEY, checkpoint_text, receipts);
    CHECK(contains(loss_report, "\"keys_restored\":true") && contains(loss_report, "\"unknown_through\":"));
    {
        custodian::store live = custodian::store::open(restored, KEY);
        custodian::session admin = live.open_session("admin", "service", true);
        CHECK_THROWS(admin.get(id), CUST_STATUS_NOT_FOUND);
        CHECK_THROWS(admin.get(other), CUST_STATUS_NOT_FOUND);
    }
    /* Acknowledged without a record: restored as the backup was. */
    const std::string blind =
        custodian::restore_after_loss(backup, path_in(dir, "lifecycle-blind"), KEY, std::nullopt, std::nullopt, true);
    CHECK(contains(blind, "\"unknown_through\":null"));
}

/* A sink that throws does not take the library down; the call it came from succeeds. */
static void test_throwing_sink(const std::string& dir) {
    custodian::store store = provisioned(dir, "throwing-sink");
    int calls = 0;
    store.set_checkpoints(1, 0, [&calls](std::string_view) {
        calls++;
        throw std::runtime_error("the host's sink failed");
    });
    custodian::session clerk = store.open_session("clerk", "service");
    const int64_t id = clerk.create(person("KH700", "孙悟", "13300000007")).id();
    CHECK(clerk.get(id).id() == id && calls > 0);
    /* Assigned over an open session: the old one is closed first, then its share of the sinks released. */
    clerk = store.open_session("clerk", "service");
    CHECK(clerk.get(id).id() == id);
    /* Moving a store moves its sinks along; assigning one over another closes the target first. */
    custodian::store moved = std::move(store);
    clerk.close();
    CHECK(moved.verify_audit() > 0);
    custodian::store target = custodian::store::create(path_in(dir, "throwing-sink-target"), KEY);
    target.set_checkpoints(1, 0, [&calls](std::string_view) { calls++; });
    target = std::move(moved);
    const int before = calls;
    custodian::session again = target.open_session("clerk", "service");
    again.get(id);
    CHECK(!moved && calls > before);
}

/* A store whose master key comes from a passphrase: backups, chains, restores and rotation. */
static void test_passphrase_lifecycle(const std::string& dir) {
    const custodian::passphrase PASS("passphrase store 2026"), NEW_PASS("the next passphrase 2027"),
        WRONG("not the passphrase");
    const std::string path = path_in(dir, "pass-store"), backup = path_in(dir, "pass-backup"),
                      restored = path_in(dir, "pass-restored"), increment = path_in(dir, "pass-increment");

    custodian::store store = custodian::store::create(path, PASS, 100000);
    store.bootstrap_admin("admin", "Administrator");
    {
        custodian::session admin = store.open_session("admin", "service", true);
        admin.create(person("KH900", "钱多", "13500000009"));
    }
    store.backup(backup);
    store.backup_increment(increment, backup);
    const std::vector<std::string> chain = {backup, increment};
    CHECK(custodian::verify_backup_chain(chain, PASS) == 1);
    CHECK_THROWS(custodian::verify_backup_chain(chain, WRONG), CUST_STATUS_BACKUP_KEY);
    CHECK_THROWS(custodian::restore_chain(chain, path, PASS), CUST_STATUS_STORE_OPEN);
    const std::string extracted = path_in(dir, "pass-extracted");
    CHECK_THROWS(custodian::extract_backup(chain, WRONG, extracted), CUST_STATUS_BACKUP_KEY);
    custodian::extract_backup(chain, PASS, extracted);

    auto open = CHECK_THROWS(custodian::restore(backup, path, PASS), CUST_STATUS_STORE_OPEN);
    CHECK(open && contains(open->message(), "is open in this process; close it"));

    CHECK(custodian::verify_backup(backup, PASS) == 1);
    CHECK_THROWS(custodian::verify_backup(backup, WRONG), CUST_STATUS_BACKUP_KEY);
    CHECK_THROWS(custodian::verify_backup(backup, KEY), CUST_STATUS_BACKUP_KEY);
    CHECK_THROWS(custodian::verify_backup(backup, custodian::passphrase(BAD_UTF8)), CUST_STATUS_INVALID_UTF8);

    /* Rotation to a new passphrase: the KDF floor holds, then the old one stops working. */
    CHECK_THROWS(store.rotate_key(NEW_PASS, 99999), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_THROWS(store.rotate_key(custodian::passphrase("short"), 100000), CUST_STATUS_INVALID);
    store.rotate_key(NEW_PASS, 100000);
    store.close();
    CHECK_THROWS(custodian::store::open(path, PASS), CUST_STATUS_WRONG_KEY);
    store = custodian::store::open(path, NEW_PASS);
    /* And from a passphrase to raw key bytes. */
    store.rotate_key(KEY);
    store.close();
    custodian::store::open(path, KEY).close();

    /* The backup (taken under the first passphrase) opens with it; into an empty
     * directory the restore then asks for the host's outside record. */
    CHECK_THROWS(custodian::restore(backup, restored, WRONG), CUST_STATUS_BACKUP_KEY);
    auto record = CHECK_THROWS(custodian::restore(backup, restored, PASS), CUST_STATUS_INVALID);
    CHECK(record && record->rule() == "outside_record_required");
    /* The chain opens with the passphrase, but the live store (rotated to key bytes since)
     * does not: refused before anything is replaced. */
    auto kind = CHECK_THROWS(custodian::restore_chain(chain, path, PASS), CUST_STATUS_INVALID);
    CHECK(kind && contains(kind->message(), "key_kind"));
    custodian::store::open(path, KEY).close();
}

static_assert(!std::is_copy_constructible_v<custodian::record>, "record is move-only");
static_assert(!std::is_copy_constructible_v<custodian::record_list>, "record list is move-only");
static_assert(!std::is_copy_constructible_v<custodian::transaction_input>, "transaction input is move-only");

/* Attached records through the wrapper: builders, records, lists, and the errors each refusal throws. */
static void test_records(const std::string& dir) {
    custodian::store store = provisioned(dir, "records");
    custodian::session admin = store.open_session("admin", "service", true);
    custodian::session plain_admin = store.open_session("admin", "service", false);
    custodian::session clerk = store.open_session("clerk", "service", false);
    const int64_t cid = admin.create(person("KH900", "赵六", "13900000900")).id();
    const int64_t now = static_cast<int64_t>(std::time(nullptr)) * 1000;

    /* Builders: names checked at once; text C cannot carry refused. */
    auto bad_method = CHECK_THROWS(custodian::transaction_input("SO-1", "CNY", 1, "cheque"), CUST_STATUS_INVALID);
    CHECK(bad_method && bad_method->rule() == "payment_method");
    CHECK_THROWS(custodian::transaction_input(WITH_NUL, "CNY", 1, "cash"), CUST_STATUS_INVALID);
    custodian::transaction_input order("SO-2026-0001", "CNY", 29000, "bank_card");
    order.item(std::string_view("龙井茶 250g and more", 14), 2, 8800).item("茶具", 1, 12000).adjustment("会员折扣", -600);
    order.status("paid").at(now - 60000).card("4111 1111 1111 1112");
    auto luhn = CHECK_THROWS(admin.add_transaction(cid, order), CUST_STATUS_INVALID);
    CHECK(luhn && luhn->rule() == "card_luhn" && !contains(luhn->message(), "1112"));
    order.card("4111 1111 1111 1111");
    custodian::transaction_input wrong("SO-2026-0002", "CNY", 30000, "cash");
    wrong.item("茶具", 1, 12000);
    auto mismatch = CHECK_THROWS(admin.add_transaction(cid, wrong), CUST_STATUS_INVALID);
    CHECK(mismatch && mismatch->rule() == "total_mismatch");
    CHECK_THROWS(order.status("lost"), CUST_STATUS_INVALID);

    // A batch: all or nothing; the ids in input order.
    custodian::transaction_input tea("SO-B1", "CNY", 1000, "cash");
    tea.item("茶", 2, 500);
    custodian::transaction_input none("SO-B2", "CNY", 0, "cash");
    none.item("茶", 0, 500);
    auto in_batch = CHECK_THROWS(admin.add_transactions(cid, {&tea, &none}), CUST_STATUS_IN_BATCH);
    CHECK(in_batch && contains(in_batch->message(), "input 1") && contains(in_batch->message(), "quantity_not_positive"));
    CHECK_THROWS(admin.add_transactions(cid, {}), CUST_STATUS_INVALID_ARGUMENT);
    CHECK_THROWS(admin.add_transactions(cid, {&tea, nullptr}), CUST_STATUS_NULL_ARGUMENT);
    const std::vector<uint64_t> batch_ids = admin.add_transactions(cid, {&tea, &tea});
    CHECK(batch_ids.size() == 2 && batch_ids[1] == batch_ids[0] + 1);
    for (uint64_t id : batch_ids) {
        admin.delete_record(id);
    }

    custodian::record sale = admin.add_transaction(cid, order);
    CHECK(sale && sale.kind() == "transaction" && sale.customer() == cid && sale.version() == 1);
    CHECK(sale.text("transaction.total") == "290.00 CNY");
    CHECK(contains(sale.text("transaction.items"), "龙井茶"));
    CHECK(sale.field("transaction.payment_details").shown == CUST_SHOWN_PLAIN);
    CHECK(!sale.value("service.subject"));
    CHECK_THROWS(sale.field("no.such.field"), CUST_STATUS_UNKNOWN_FIELD);
    CHECK(contains(sale.to_json(), "\"kind\":\"transaction\"") && contains(sale.history_json(), "\"to\":\"paid\""));
    const uint64_t tid = sale.id();

    /* What customer service and an administrator without MFA see. */
    custodian::record seen = clerk.get_record(tid);
    CHECK(seen.text("transaction.total") == "290.00 CNY");
    CHECK(seen.field("transaction.payment_details").shown == CUST_SHOWN_WITHHELD && !seen.value("transaction.payment_details"));
    custodian::field_value card = plain_admin.get_record(tid).field("transaction.payment_details");
    CHECK(card.text == "**** **** **** 1111" && card.shown == CUST_SHOWN_MASKED);

    /* Status changes. */
    auto backwards = CHECK_THROWS(admin.set_transaction_status(tid, 1, "pending"), CUST_STATUS_INVALID);
    CHECK(backwards && backwards->rule() == "transition_invalid");
    CHECK_THROWS(admin.set_transaction_status(tid, 5, "refunded"), CUST_STATUS_VERSION_CONFLICT);
    custodian::record refunded = admin.set_transaction_status(tid, 1, "refunded");
    CHECK(refunded.version() == 2 && refunded.text("transaction.status") == "refunded");

    /* A complaint already past due, and a question due in two days. */
    custodian::service_input complaint("complaint", "phone", "茶具破损", std::string_view("收到的茶具有裂纹"));
    complaint.priority("high").owner(std::string_view("clerk")).opened_at(now - 10 * 3600000LL).due_at(now - 3600000LL);
    CHECK_THROWS(complaint.priority("whenever"), CUST_STATUS_INVALID);
    custodian::record opened = admin.open_service(cid, complaint);
    CHECK(opened.kind() == "service" && opened.overdue() && opened.text("service.owner") == "clerk");
    const uint64_t sid = opened.id();
    custodian::service_input question("consultation", "web", "保修期多久");
    question.opened_at(now - 3600000LL).due_at(now - 7200000LL);
    auto early = CHECK_THROWS(admin.open_service(cid, question), CUST_STATUS_INVALID);
    CHECK(early && early->rule() == "due_before_opening");
    question.due_at(now + 48 * 3600000LL).owner(std::nullopt);
    const uint64_t qid = clerk.open_service(cid, question).id();

    custodian::record_list overdue = clerk.service_due();
    CHECK(overdue.size() == 1 && overdue.next() == 0 && overdue[0].id() == sid && overdue.at(0).overdue());
    CHECK_THROWS(overdue.at(1), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(clerk.service_due(0, std::string_view("admin")).empty());
    custodian::record_list soon = clerk.service_due(72);
    CHECK(soon.size() == 1 && soon[0].id() == qid);
    CHECK_THROWS(clerk.service_due(0, std::nullopt, 0), CUST_STATUS_INVALID_ARGUMENT);

    /* Transitions and assignment. */
    auto unresolved = CHECK_THROWS(clerk.transition_service(sid, 1, "resolved"), CUST_STATUS_INVALID);
    CHECK(unresolved && unresolved->rule() == "resolution_required");
    auto jump = CHECK_THROWS(clerk.transition_service(sid, 1, "reopened"), CUST_STATUS_INVALID);
    CHECK(jump && jump->rule() == "transition_invalid");
    CHECK(clerk.transition_service(sid, 1, "in_progress").version() == 2);
    auto ghost = CHECK_THROWS(clerk.assign_service(sid, 2, "ghost"), CUST_STATUS_INVALID);
    CHECK(ghost && ghost->rule() == "owner_unknown");
    CHECK(clerk.assign_service(sid, 2, "admin").text("service.owner") == "admin");
    custodian::record resolved = clerk.transition_service(sid, 3, "resolved", std::string_view("换货一套"));
    CHECK(!resolved.overdue() && resolved.text("service.resolution") == "换货一套");
    CHECK(contains(resolved.history_json(), "\"from\":\"in_progress\",\"to\":\"resolved\""));
    CHECK(clerk.service_due().empty());

    /* JSON patches. */
    CHECK_THROWS(clerk.update_record_json(qid, 1, "[1]"), CUST_STATUS_INVALID);
    CHECK_THROWS(clerk.update_record_json(qid, 1, "{\"service.nope\":\"x\"}"), CUST_STATUS_UNKNOWN_FIELD);
    CHECK_THROWS(clerk.update_record_json(qid, 1, WITH_NUL), CUST_STATUS_INVALID);
    custodian::record patched = clerk.update_record_json(qid, 1, "{\"service.priority\":\"urgent\"}");
    CHECK(patched.version() == 2 && patched.text("service.priority") == "urgent");
    custodian::record rectified =
        clerk.rectify_record_json(qid, 2, "{\"service.subject\":\"保修期是多久\"}", "DSR-2026-7");
    CHECK(rectified.text("service.subject") == "保修期是多久");
    CHECK_THROWS(clerk.update_record_json(tid, 2, "{\"transaction.payment_details\":\"5555555555554444\"}"),
                 CUST_STATUS_DENIED);

    /* The timeline, paged, and iterated. */
    custodian::record_list first = clerk.timeline(cid, 2);
    CHECK(first.size() == 2 && first.next() != 0);
    custodian::record_list last = clerk.timeline(cid, 2, first.next());
    CHECK(last.size() == 1 && last.next() == 0);
    std::size_t counted = 0;
    for (custodian::record_ref r : clerk.timeline(cid)) {
        CHECK(r.customer() == cid && (r.kind() == "transaction" || r.kind() == "service"));
        ++counted;
    }
    CHECK(counted == 3);

    /* Moves leave empty handles; deleted and unknown records are not found. */
    custodian::record moved = std::move(patched);
    CHECK(moved && !patched && patched.id() == 0);
    custodian::record_list moved_list = std::move(first);
    CHECK(moved_list.size() == 2 && first.size() == 0);
    CHECK_THROWS(clerk.delete_record(qid), CUST_STATUS_DENIED);
    admin.delete_record(qid);
    auto gone = CHECK_THROWS(admin.get_record(qid), CUST_STATUS_RECORD_NOT_FOUND);
    CHECK(gone && contains(gone->message(), "not found"));
    CHECK_THROWS(admin.delete_record(qid), CUST_STATUS_RECORD_NOT_FOUND);

    /* A bank transfer. */
    custodian::transaction_input transfer("SO-2026-0003", "CNY", 5000, "bank_transfer");
    transfer.item("茶叶", 1, 5000).bank_account("6222020200112233");
    const uint64_t bid = admin.add_transaction(cid, transfer).id();
    custodian::field_value account = plain_admin.get_record(bid).field("transaction.payment_details");
    CHECK(account.shown == CUST_SHOWN_MASKED && contains(account.text, "2233") && !contains(account.text, "62220202"));
}

/* The service-level policy: set on the store before any session, refused after. */
static void test_service_levels(const std::string& dir) {
    custodian::store store = provisioned(dir, "service-levels");
    const int64_t now = static_cast<int64_t>(std::time(nullptr)) * 1000;
    CHECK_THROWS(store.set_service_hours("rant", "normal", 6), CUST_STATUS_INVALID);
    CHECK_THROWS(store.set_service_hours("complaint", "normal", 0), CUST_STATUS_INVALID_ARGUMENT);
    store.set_service_hours("complaint", "normal", 6);
    store.set_reopen_days(0);
    custodian::session admin = store.open_session("admin", "service", true);
    auto shared = CHECK_THROWS(store.set_service_hours("complaint", "normal", 7), CUST_STATUS_INVALID);
    CHECK(shared && shared->rule() == "store_shared");
    const int64_t cid = admin.create(person("KH950", "钱七", "13900000950")).id();
    custodian::service_input complaint("complaint", "phone", "物流投诉");
    complaint.opened_at(now - 3600000LL);
    custodian::record opened = admin.open_service(cid, complaint);
    CHECK(opened.text("service.due_at") == std::to_string(now - 3600000LL + 6 * 3600000LL));
    custodian::record closed = admin.transition_service(opened.id(), 1, "closed", std::string_view("已处理"));
    auto never = CHECK_THROWS(admin.transition_service(closed.id(), 2, "reopened"), CUST_STATUS_INVALID);
    CHECK(never && never->rule() == "reopen_expired");
}

/* CSV in and out: a bad row kept unverified or rejected, progress, an export as the session sees it. */
static void test_csv(const std::string& dir) {
    custodian::store store = provisioned(dir, "csv");
    custodian::session admin = store.open_session("admin", "service", true);
    const std::string sheet =
        "编号,姓名,手机,身份证号\r\nKH001,王五,13812345678,110101199003078515\r\nKH002,李四,not-a-mobile,\r\n";
    std::vector<uint64_t> seen;
    custodian::csv_import_options options;
    options.progress = [&](uint64_t rows, uint64_t) { seen.push_back(rows); };
    custodian::import_report report = admin.import_csv(sheet, options);
    CHECK(report.size() == 2 && report.row(0).slot == 2 && report.row(1).slot == 3 && !report.row(1).verified);
    CHECK(seen.size() == 1 && seen[0] == 2);
    custodian::csv_import_options reject;
    reject.reject_invalid = true;
    custodian::import_report again = admin.import_csv(sheet);
    CHECK(again.size() == 0 && again.matched_size() == 2 && again.rejected().empty());
    custodian::import_report left_out =
        admin.import_csv("编号,姓名,手机\r\nKH010,钱七,13700000010\r\nKH011,孙八,12345\r\n", reject);
    CHECK(left_out.size() == 1 && left_out.rejected().size() == 1);
    CHECK(left_out.rejected()[0].slot == 3 && contains(left_out.rejected()[0].problems[0], "mobile_format"));
    auto unknown = CHECK_THROWS(admin.import_csv("name,shoe_size\r\nx,1\r\n"), CUST_STATUS_INVALID);
    CHECK(unknown && unknown->rule() == "csv_unknown_column");
    const std::string path = path_in(dir, "csv-in.csv");
    {
        std::FILE* f = std::fopen(path.c_str(), "wb");
        std::fputs("姓名,手机\r\n赵六,13700000001\r\n", f);
        std::fclose(f);
    }
    CHECK(admin.import_csv_file(path).size() == 1);
    CHECK_THROWS(admin.import_csv_file(path_in(dir, "no-such.csv")), CUST_STATUS_STORAGE);
    custodian::session clerk = store.open_session("clerk", "service", false);
    custodian::csv_export_options columns;
    columns.columns = std::string_view("name,id_number");
    uint64_t rows = 0;
    const std::string exported = clerk.export_csv(columns, &rows);
    CHECK(rows == 4 && exported.rfind("name,id_number\r\n王五,1101**********8515\r\n", 0) == 0);
    CHECK(!contains(exported, "110101199003078515"));
    custodian::csv_export_options gbk;
    gbk.encoding = std::string_view("gbk");
    gbk.chinese_headers = true;
    CHECK(admin.export_csv_file(path_in(dir, "csv-out.csv"), gbk) == 4);
    CHECK_THROWS(admin.export_csv_file(path_in(dir, "csv-out.csv"), gbk), CUST_STATUS_STORAGE);
    custodian::csv_export_options bad;
    bad.encoding = std::string_view("latin-1");
    CHECK_THROWS(admin.export_csv(bad), CUST_STATUS_INVALID);
}

static bool counts_are(const custodian::import_counts& c, uint64_t created, uint64_t verified,
                       uint64_t already_present, uint64_t conflicts, uint64_t updated, uint64_t rejected) {
    return c.created == created && c.verified == verified && c.already_present == already_present &&
           c.conflicts == conflicts && c.updated == updated && c.rejected == rejected;
}

/* A problems-only CSV import lists the rows to look at and counts every row; options as JSON. */
static void test_csv_problems_only(const std::string& dir) {
    custodian::store store = provisioned(dir, "csv-problems");
    custodian::session admin = store.open_session("admin", "service", true);
    /* Rows 2-3 good; 4 an invalid mobile; 5 repeats row 2's code; 6 repeats row 3's mobile. */
    const std::string sheet =
        "编号,姓名,单位,类别,职务,手机,邮箱,备注\r\n"
        "KH001,王五,星辰科技,零售,经理,13812345678,w@example.com,\r\n"
        "KH002,李四,星辰科技,零售,,13912345678,,\r\n"
        "KH003,张三,,,,not-a-mobile,,\r\n"
        "KH001,赵六,,,,13712345678,,\r\n"
        "KH004,钱七,,,,13912345678,,\r\n";
    /* Bad options import nothing. */
    auto unknown = CHECK_THROWS(admin.import_csv_with(sheet, std::string_view("{\"problems_only\": true, \"shoe\": 1}")),
                                CUST_STATUS_INVALID);
    CHECK(unknown && contains(unknown->message(), "shoe"));
    CHECK_THROWS(admin.import_csv_with(sheet, std::string_view("{\"problems_only\": 1}")), CUST_STATUS_INVALID);
    CHECK_THROWS(admin.import_csv_file_with(path_in(dir, "no-such.csv"), std::string_view("[]")), CUST_STATUS_INVALID);
    CHECK(admin.list(CUST_FIELD_NAME).total() == 0);

    std::vector<uint64_t> seen;
    custodian::import_report report = admin.import_csv_with(
        sheet, std::string_view("{\"problems_only\":true}"), [&](uint64_t rows, uint64_t) { seen.push_back(rows); });
    CHECK(!seen.empty() && seen.back() == 5);
    CHECK(counts_are(report.counts(), 5, 3, 0, 0, 0, 0));
    CHECK(report.size() == 3 && report.matched_size() == 0 && report.rejected().empty());
    const std::vector<custodian::import_row> rows = report.rows();
    CHECK(rows.size() == 3 && rows[0].slot == 4 && rows[1].slot == 5 && rows[2].slot == 6);
    CHECK(!rows[0].verified && !rows[1].verified && rows[2].verified);
    CHECK(contains(rows.at(0).problems.at(0), "(mobile_format)") && contains(rows.at(1).problems.at(0), "(duplicate_code)"));
    CHECK(contains(rows.at(2).problems.at(0), "row 3 (customer") && !contains(rows.at(2).problems.at(0), "13912345678"));

    /* Again, through the options struct: every row matched, only the conflict (row 5) listed. */
    custodian::csv_import_options quiet;
    quiet.problems_only = true;
    quiet.encoding = std::string_view("utf-8");
    custodian::import_report again = admin.import_csv(sheet, quiet);
    CHECK(counts_are(again.counts(), 0, 0, 4, 1, 0, 0));
    CHECK(again.size() == 0 && again.matched_size() == 1);
    const std::vector<custodian::import_match> matches = again.matches();
    CHECK(matches.size() == 1 && matches[0].slot == 5 && matches[0].outcome == CUST_MATCH_CONFLICT);
    CHECK(admin.list(CUST_FIELD_NAME).total() == 5);

    /* No options are the defaults: the full report, counted the same; a file likewise. */
    custodian::store full_store = provisioned(dir, "csv-problems-full");
    custodian::session full = full_store.open_session("admin", "service", true);
    custodian::import_report everything = full.import_csv_with(sheet, std::nullopt);
    CHECK(everything.size() == 5 && counts_are(everything.counts(), 5, 3, 0, 0, 0, 0));
    const std::string path = path_in(dir, "csv-problems.csv");
    {
        std::FILE* f = std::fopen(path.c_str(), "wb");
        std::fputs(sheet.c_str(), f);
        std::fclose(f);
    }
    custodian::import_report file_again = full.import_csv_file_with(path, std::string_view("{}"));
    CHECK(file_again.matched_size() == 5 && counts_are(file_again.counts(), 0, 0, 4, 1, 0, 0));
    /* An update is listed; the rows already present are only counted. */
    const std::string renamed_path = path_in(dir, "csv-renamed.csv");
    {
        std::FILE* f = std::fopen(renamed_path.c_str(), "wb");
        std::fputs("编号,姓名,单位,类别,职务,手机,邮箱,备注\r\n"
                   "KH001,王五,星辰科技,零售,经理,13812345678,w@example.com,\r\n"
                   "KH002,李小四,星辰科技,零售,,13912345678,,\r\n",
                   f);
        std::fclose(f);
    }
    quiet.update_existing = true;
    custodian::import_report updated = full.import_csv_file(renamed_path, quiet);
    CHECK(updated.size() == 0 && updated.matched_size() == 1 && counts_are(updated.counts(), 0, 0, 1, 0, 1, 0));
    CHECK(updated.matched(0).slot == 3 && updated.matched(0).outcome == CUST_MATCH_UPDATED &&
          updated.matched(0).fields == "name");
    /* An encoding needing JSON escapes is refused by name, not as bad JSON. */
    custodian::csv_import_options odd;
    odd.problems_only = true;
    odd.encoding = std::string_view("\"utf-8\\\n");
    auto named = CHECK_THROWS(full.import_csv(sheet, odd), CUST_STATUS_INVALID);
    CHECK(named && named->rule() == "csv_encoding_name");
}

/* Possible duplicates: the report and a create that refuses or warns. */
static void test_duplicates(const std::string& dir) {
    custodian::store store = provisioned(dir, "duplicates");
    custodian::session admin = store.open_session("admin", "service", true);
    const int64_t first = admin.create(person("KH960", "王五", "13812345678")).id();
    auto refused = CHECK_THROWS(admin.create_checked(person("KH961", "王小五", "138-1234-5678"), "refuse"),
                                CUST_STATUS_INVALID);
    CHECK(refused && refused->rule() == "possible_duplicate" && !contains(refused->message(), "13812345678"));
    std::string pairs;
    custodian::customer twin = admin.create_checked(person("KH961", "王小五", "138-1234-5678"), "warn", &pairs);
    const std::string expected = "\"first\":" + std::to_string(first);
    CHECK(twin && contains(pairs, expected.c_str()) && contains(pairs, "same_mobile"));
    CHECK(contains(admin.duplicates_json(10), "\"truncated\":false"));
    CHECK_THROWS(admin.duplicates_json(0), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(contains(admin.data_quality_json(), "\"total\":{\"customers\":2,"));
}

/* Four-eyes verification: whoever entered a customer may not verify it. */
static void test_four_eyes(const std::string& dir) {
    custodian::store store = provisioned(dir, "four-eyes");
    store.set_four_eyes(true);
    custodian::session clerk = store.open_session("clerk", "service", false);
    CHECK_THROWS(store.set_four_eyes(false), CUST_STATUS_INVALID);
    const int64_t id = clerk.create(person("KH970", "王五", "13812345678")).id();
    auto same = CHECK_THROWS(clerk.verify(id, 1), CUST_STATUS_DENIED);
    CHECK(same && same->rule() == "verify.four_eyes");
    custodian::session admin = store.open_session("admin", "service", true);
    admin.verify(id, 1);
}

/* Merging a duplicate into its survivor: the chosen value, the moved record and consents,
 * the duplicate gone, and refusals for bad options, a clerk and a hold. */
static void test_merge(const std::string& dir) {
    custodian::store store = provisioned(dir, "merge");
    custodian::session admin = store.open_session("admin", "service", true);
    custodian::session compliance = store.open_session("admin", "compliance", true);
    custodian::session clerk = store.open_session("clerk", "service", false);
    const custodian::customer keep = admin.create(person("KH980", "王五", "13812345678"));
    custodian::input twin = person("KH981", "王 五", "13912345678");
    twin.set(CUST_FIELD_EMAIL, "wangwu@example.com");
    const custodian::customer dup = admin.create(twin);
    custodian::transaction_input order("SO-MERGE-1", "CNY", 1000, "cash");
    order.item("茶", 2, 500);
    const uint64_t sold = admin.add_transaction(dup.id(), order).id();
    admin.record_consent(dup.id(), "marketing", "sms", true, "counter", "v1");
    const std::string options = R"({"reference": "ticket-1", "take": {"mobile": "merged"}})";

    auto bad = CHECK_THROWS(admin.merge(keep.id(), keep.version(), dup.id(), dup.version(), "{\"reference\": 1}"),
                            CUST_STATUS_INVALID);
    CHECK(bad && contains(bad->message(), "invalid merge options JSON"));
    auto unknown = CHECK_THROWS(
        admin.merge(keep.id(), keep.version(), dup.id(), dup.version(), R"({"reference": "t", "carry": true})"),
        CUST_STATUS_INVALID);
    CHECK(unknown && contains(unknown->message(), "carry"));
    auto read_only = CHECK_THROWS(admin.merge(keep.id(), keep.version(), dup.id(), dup.version(),
                                              R"({"reference": "t", "take": {"version": "merged"}})"),
                                  CUST_STATUS_INVALID);
    CHECK(read_only && read_only->rule() == "read_only");
    auto self = CHECK_THROWS(admin.merge(keep.id(), keep.version(), keep.id(), keep.version(), options),
                             CUST_STATUS_INVALID);
    CHECK(self && self->rule() == "merge_self");
    CHECK_THROWS(admin.merge(keep.id(), keep.version(), dup.id(), dup.version() + 1, options),
                 CUST_STATUS_VERSION_CONFLICT);
    CHECK_THROWS(admin.merge(keep.id(), keep.version(), dup.id(), dup.version(), WITH_NUL), CUST_STATUS_INVALID);
    CHECK_THROWS(clerk.merge(keep.id(), keep.version(), dup.id(), dup.version(), options), CUST_STATUS_DENIED);
    compliance.place_hold(dup.id(), "case-9");
    auto held = CHECK_THROWS(compliance.merge(keep.id(), keep.version(), dup.id(), dup.version(), options),
                             CUST_STATUS_LEGAL_HOLD);
    CHECK(held && contains(held->message(), "case-9"));
    compliance.lift_hold(dup.id());

    std::string report;
    const custodian::customer survivor =
        admin.merge(keep.id(), keep.version(), dup.id(), dup.version(), options, &report);
    CHECK(survivor.id() == keep.id() && survivor.version() == keep.version() + 1);
    CHECK(survivor.text(CUST_FIELD_NAME) == "王五" && survivor.text(CUST_FIELD_MOBILE) == "13912345678");
    CHECK(survivor.text(CUST_FIELD_EMAIL) == "wangwu@example.com");
    const std::string ids = "\"survivor\":" + std::to_string(keep.id()) + ",\"merged\":" + std::to_string(dup.id());
    const std::string moved = "\"records_moved\":[" + std::to_string(sold) + "]";
    CHECK(contains(report, ids.c_str()) && contains(report, moved.c_str()));
    CHECK(contains(report, "\"fields_changed\":[\"mobile\",\"email\"]") && contains(report, "\"consents_moved\":1"));
    CHECK(!contains(report, "13912345678"));
    CHECK_THROWS(admin.get(dup.id()), CUST_STATUS_NOT_FOUND);
    CHECK(admin.get_record(sold).customer() == keep.id());
    CHECK(contains(admin.consents_json(keep.id()), "\"sms\""));
    const std::string log = admin.audit_query_json(dup.id());
    CHECK(contains(log, "customer.merge") && contains(log, "\"method\":\"merge\""));
    /* Without a report string; a hold moves when asked to. */
    const custodian::customer third = admin.create(person("KH982", "王五五", "13712345678"));
    compliance.place_hold(third.id(), "case-10");
    const custodian::customer again = compliance.merge(survivor.id(), survivor.version(), third.id(), third.version(),
                                                       R"({"reference": "ticket-2", "carry_holds": true})");
    CHECK(again.version() == survivor.version() + 1);
    CHECK_THROWS(compliance.erase(keep.id(), "dsr-1"), CUST_STATUS_LEGAL_HOLD);
}

/* Organisation customers: credit code (found however it is typed), registered address, a
 * landline read back in its normal form, contact persons as JSON; each refused with its rule. */
static void test_organisations(const std::string& dir) {
    custodian::store store = provisioned(dir, "organisations");
    custodian::session admin = store.open_session("admin", "service", true);
    custodian::session clerk = store.open_session("clerk", "service", false);
    static_assert(CUST_FIELD_CREDIT_CODE == 20 && CUST_FIELD_REGISTERED_ADDRESS == 21 && CUST_FIELD_LANDLINE == 22 &&
                      CUST_FIELD_CONTACTS == 23,
                  "the organisation fields follow CUST_FIELD_VERSION");
    const std::string code = "91350100M000100Y43"; /* 91350100M000100Y4 and its GB 32100 check character */
    auto company = [] {
        custodian::input in(CUST_KIND_ORGANISATION);
        in.set(CUST_FIELD_ORGANISATION, "星辰科技有限公司");
        return in;
    };
    custodian::input in = company();
    in.set(CUST_FIELD_EXTERNAL_CODE, "ORG001")
        .set(CUST_FIELD_CREDIT_CODE, "91350100m000100y43")
        .set(CUST_FIELD_REGISTERED_ADDRESS, "福建省福州市鼓楼区五四路1号")
        .set(CUST_FIELD_LANDLINE, "(010) 6234 5678 转 801")
        .set(CUST_FIELD_CONTACTS, R"([{"name": "李四", "title": "采购经理", "mobile": "+86 138 1234 5678",
                                      "email": "LiSi@Example.com"}])");
    const custodian::customer made = clerk.create(in);
    CHECK(made.text(CUST_FIELD_KIND) == "organisation");
    custodian::field_value credit = made.field(CUST_FIELD_CREDIT_CODE);
    CHECK(credit.text == code && credit.shown == CUST_SHOWN_PLAIN);
    CHECK(made.text(CUST_FIELD_REGISTERED_ADDRESS) == "福建省福州市鼓楼区五四路1号");
    CHECK(made.text(CUST_FIELD_LANDLINE) == "010-62345678-801");
    CHECK(made.text(CUST_FIELD_CONTACTS) ==
          R"([{"name":"李四","title":"采购经理","mobile":"13812345678","email":"lisi@example.com"}])");
    CHECK(contains(made.to_json(), "\"credit_code\":\"91350100M000100Y43\""));

    /* Found by its credit code in upper or lower case, with spaces or dashes. */
    for (const char* spelling :
         {"91350100M000100Y43", "91350100m000100y43", "913501 00M000100Y43", "91-350100-M000100Y43"}) {
        custodian::customer_list found = clerk.find(CUST_FIELD_CREDIT_CODE, spelling);
        CHECK(found.size() == 1 && found[0].id() == made.id());
    }
    const std::string spaced = "9135 0100 M000 100Y 43 and more";
    CHECK(clerk.find(CUST_FIELD_CREDIT_CODE, std::string_view(spaced).substr(0, 22)).size() == 1);
    CHECK(clerk.find(CUST_FIELD_CREDIT_CODE, "91110108MA01ABCD1E").empty());
    auto lookup = CHECK_THROWS(clerk.find(CUST_FIELD_CREDIT_CODE, "91350100M000100Y44"), CUST_STATUS_INVALID);
    CHECK(lookup && lookup->rule() == "credit_code_check");
    auto unindexed = CHECK_THROWS(clerk.find(CUST_FIELD_LANDLINE, "010-62345678-801"), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(unindexed && unindexed->rule() == "not_indexed");

    /* Refusals name the field and the rule, never the value; nothing is stored. */
    struct refusal {
        cust_field field;
        const char* value;
        const char* named;
        const char* rule;
    };
    const refusal refused[] = {
        {CUST_FIELD_CREDIT_CODE, "91350100M000100Y44", "'credit_code'", "credit_code_check"},
        {CUST_FIELD_CREDIT_CODE, "91350100M00010", "'credit_code'", "credit_code_length"},
        {CUST_FIELD_LANDLINE, "62345678", "'landline'", "landline_area_code"},
        {CUST_FIELD_LANDLINE, "010-6234abcd", "'landline'", "landline_format"},
        {CUST_FIELD_CONTACTS, R"([{"name": "王五", "mobile": "12345"}])", "'contacts[1].mobile'", "mobile_format"},
        {CUST_FIELD_CONTACTS, R"([{"name": "王五", "fax": "1"}])", "'contacts'", "contacts_json"},
    };
    for (const refusal& r : refused) {
        custodian::input bad = company();
        bad.set(r.field, r.value);
        auto e = CHECK_THROWS(clerk.create(bad), CUST_STATUS_INVALID);
        CHECK(e && e->rule() == r.rule && contains(e->message(), r.named) && !contains(e->message(), r.value));
    }
    CHECK(admin.list(CUST_FIELD_NAME).total() == 1);

    /* An update normalises a new landline; clearing the contacts leaves the field absent. */
    custodian::input patch(CUST_KIND_ORGANISATION);
    patch.set(CUST_FIELD_LANDLINE, "0571 8765 4321 ext. 12").clear(CUST_FIELD_CONTACTS);
    const custodian::customer changed = admin.update(made.id(), made.version(), patch);
    CHECK(changed.text(CUST_FIELD_LANDLINE) == "0571-87654321-12");
    CHECK(!changed.value(CUST_FIELD_CONTACTS).has_value());
}

/* Statistics as tests/statistics.rs counts them: 49 individuals, category x tier 零售 [12, 7, 3],
 * 批发 [6, 2, 9], 政府 [5, 5, 0], over four addresses in turn. The analyst's golden cross-tab at
 * k = 5, provinces at k = 2, and the refusals, each with its status and rule. */
/* The keyword index: a store created with search settings, read back,
 * searched through the index, rebuilt; refused settings. */
static void test_search_index(const std::string& dir) {
    auto field = CHECK_THROWS(custodian::store::create_with(path_in(dir, "search-refused"), KEY,
                                                            R"({"search": {"fields": ["id_number"]}})"),
                              CUST_STATUS_INVALID);
    CHECK(field && field->rule() == "catalogue.search_field");
    auto bits = CHECK_THROWS(
        custodian::store::create_with(path_in(dir, "search-refused"), KEY, R"({"search": {"token_bits": 64}})"),
        CUST_STATUS_INVALID);
    CHECK(bits && bits->rule() == "catalogue.search_token_bits");
    auto json = CHECK_THROWS(custodian::store::create_with(path_in(dir, "search-refused"), KEY, R"({"colour": 1})"),
                             CUST_STATUS_INVALID);
    CHECK(json && contains(json->message(), "invalid catalogue JSON"));
    CHECK_THROWS(custodian::store::create_with(path_in(dir, "search-refused"), KEY, WITH_NUL), CUST_STATUS_INVALID);

    custodian::store store = custodian::store::create_with(
        path_in(dir, "search"), KEY, R"({"search": {"fields": ["name", "notes"], "token_bits": 24}})");
    CHECK(store.search_settings() == R"({"fields":["name","notes"],"index":true,"token_bits":24})");
    store.bootstrap_admin("admin", "Administrator");
    custodian::session admin = store.open_session("admin", "service", true);
    const char* const notes[3] = {"需要增值税发票", "普通咨询", "电子发票，VIP"};
    std::vector<int64_t> ids;
    for (int i = 0; i < 3; i++) {
        custodian::input in(CUST_KIND_INDIVIDUAL);
        in.set(CUST_FIELD_NAME, "赵六").set(CUST_FIELD_NOTES, notes[i]).set(CUST_FIELD_TITLE, "发票专员");
        ids.push_back(admin.create(in).id());
    }
    custodian::customer_list found = admin.search("发票");
    CHECK(found.total() == 2 && found.size() == 2 && found[0].id() == ids[0] && found[1].id() == ids[2]);
    custodian::customer_list vip = admin.search("ｖｉｐ");
    CHECK(vip.total() == 1 && vip[0].id() == ids[2]);
    CHECK(admin.search("专员").total() == 0);  // the title is not a search field here
    CHECK(store.rebuild_search_index() == 3);
    CHECK(admin.search("发票").total() == 2);
    CHECK(contains(admin.audit_query_json(0, std::nullopt, 0, 0, 1000), "store.rebuild_search_index"));

    custodian::store unindexed = custodian::store::create_with(
        path_in(dir, "search-unindexed"), custodian::passphrase("a long passphrase 2026"), R"({"search": {"index": false}})",
        100000);
    CHECK(contains(unindexed.search_settings(), "\"index\":false"));
}

static void test_statistics(const std::string& dir) {
    custodian::store store = provisioned(dir, "statistics");
    {
        custodian::session maintenance = store.open_session("admin", "maintenance", true);
        maintenance.register_principal("analyst", "数据分析");
        maintenance.grant("analyst", "analyst");
    }
    custodian::session admin = store.open_session("admin", "service", true);
    const char* const stems[10] = {"甲", "乙", "丙", "丁", "戊", "己", "庚", "辛", "壬", "癸"};
    const char* const addresses[4] = {"浙江省杭州市西湖区文三路", "浙江宁波海曙区", "北京市朝阳区建国路",
                                      "广东省深圳市南山区"};
    const std::pair<const char*, std::array<int, 3>> data[3] = {
        {"零售", {12, 7, 3}}, {"批发", {6, 2, 9}}, {"政府", {5, 5, 0}}};
    const char* const tiers[3] = {"A", "B", "C"};
    int n = 0;
    std::vector<int64_t> ids;
    for (const auto& [category, per_tier] : data) {
        for (std::size_t t = 0; t < 3; t++) {
            for (int i = 0; i < per_tier[t]; i++, n++) {
                custodian::input in(CUST_KIND_INDIVIDUAL);
                in.set(CUST_FIELD_NAME, std::string("统计") + stems[n / 10] + stems[n % 10])
                    .set(CUST_FIELD_CATEGORY, category)
                    .set(CUST_FIELD_TIER, tiers[t])
                    .set(CUST_FIELD_ADDRESS, addresses[n % 4]);
                ids.push_back(admin.create(in).id());
            }
        }
    }
    CHECK(n == 49);
    custodian::session analyst = store.open_session("analyst", "analytics");

    /* A query refused before anything is counted or audited. */
    auto unknown = CHECK_THROWS(analyst.statistics(R"({"rows": "tier", "k": 5})"), CUST_STATUS_INVALID);
    CHECK(unknown && contains(unknown->message(), "invalid statistics query JSON") &&
          contains(unknown->message(), "`k`"));
    auto filter = CHECK_THROWS(analyst.statistics(R"({"rows": "tier", "filter": {"colour": "red"}})"),
                               CUST_STATUS_INVALID);
    CHECK(filter && contains(filter->message(), "`colour`"));
    auto typed = CHECK_THROWS(analyst.statistics(R"({"rows": "tier", "threshold": "5"})"), CUST_STATUS_INVALID);
    CHECK(typed && contains(typed->message(), "invalid statistics query JSON"));
    CHECK_THROWS(analyst.statistics(R"(["tier"])"), CUST_STATUS_INVALID);
    CHECK_THROWS(analyst.statistics(WITH_NUL), CUST_STATUS_INVALID);
    CHECK(!contains(admin.audit_query_json(0, "analyst"), "customer.statistics"));

    const std::string golden = analyst.statistics(R"({"rows": "category", "columns": "tier"})");
    CHECK(golden == "{\"rows\":\"category\",\"columns\":\"tier\",\"threshold\":5,"
                    "\"row_labels\":[\"批发\",\"政府\",\"零售\"],\"column_labels\":[\"A\",\"B\",\"C\"],"
                    "\"cells\":[[null,null,null],[null,null,0],[12,null,null]],"
                    "\"row_totals\":[17,10,22],\"column_totals\":[23,14,12],\"total\":49,"
                    "\"suppressed_primary\":2,\"suppressed_secondary\":5}");
    CHECK(!contains(golden, "统计") && !contains(golden, "文三路"));
    CHECK(contains(admin.audit_query_json(0, "analyst"), "customer.statistics"));
    const std::string provinces = analyst.statistics(R"({"rows": "province", "threshold": 2})");
    CHECK(contains(provinces, "\"columns\":null") &&
          contains(provinces, "\"row_labels\":[\"北京市\",\"广东省\",\"浙江省\"]"));
    CHECK(contains(provinces, "\"cells\":[[12],[12],[25]]") && contains(provinces, "\"total\":49"));
    const std::string retail =
        analyst.statistics(R"({"rows": "tier", "filter": {"category": "零售"}, "threshold": 2})");
    CHECK(contains(retail, "\"cells\":[[12],[7],[3]]") && contains(retail, "\"total\":22"));

    // Purchase totals by tier: tier A of 零售 is ids[0..12], B ids[12..19], C ids[19..22].
    int reference = 0;
    auto pay = [&](int64_t id, int64_t minor) {
        custodian::transaction_input order("PT-" + std::to_string(reference++), "CNY", minor, "cash");
        order.item("茶", 1, minor).status("paid");
        admin.add_transaction(id, order);
    };
    for (int i = 0; i < 6; i++) pay(ids[i], 10000);
    for (int i = 12; i < 17; i++) pay(ids[i], 2000);
    pay(ids[19], 70000);
    const std::string totals = analyst.purchase_totals(R"({"rows": "tier", "currency": "CNY"})");
    CHECK(totals == "{\"rows\":\"tier\",\"currency\":\"CNY\",\"threshold\":5,"
                    "\"row_labels\":[\"A\",\"B\",\"C\"],\"buyers\":[6,null,null],"
                    "\"amounts\":[\"600.00 CNY\",null,null],\"total_buyers\":12,"
                    "\"total_amount\":\"1400.00 CNY\",\"suppressed_primary\":2,\"suppressed_secondary\":2}");
    pay(ids[20], 1000);
    const std::string open = analyst.purchase_totals(R"({"rows": "tier", "currency": "CNY", "threshold": 2})");
    CHECK(contains(open, "\"buyers\":[6,5,2]") &&
          contains(open, "\"amounts\":[\"600.00 CNY\",\"100.00 CNY\",\"710.00 CNY\"]"));
    CHECK(contains(admin.audit_query_json(0, "analyst"), "customer.purchase_totals"));
    auto currency = CHECK_THROWS(analyst.purchase_totals(R"({"rows": "tier", "currency": "XXY"})"), CUST_STATUS_INVALID);
    CHECK(currency && currency->rule() == "currency_unknown");
    auto band = CHECK_THROWS(analyst.purchase_totals(R"({"rows": "age_band", "currency": "CNY"})"), CUST_STATUS_INVALID);
    CHECK(band && band->rule() == "statistics_dimension");
    auto missing = CHECK_THROWS(analyst.purchase_totals(R"({"rows": "tier"})"), CUST_STATUS_INVALID);
    CHECK(missing && contains(missing->message(), "currency"));
    CHECK_THROWS(analyst.purchase_totals(WITH_NUL), CUST_STATUS_INVALID);

    auto low = CHECK_THROWS(analyst.statistics(R"({"rows": "tier", "threshold": 1})"), CUST_STATUS_INVALID_ARGUMENT);
    CHECK(low && low->rule() == "statistics_threshold");
    auto twice = CHECK_THROWS(analyst.statistics(R"({"rows": "tier", "columns": "tier"})"), CUST_STATUS_INVALID);
    CHECK(twice && twice->rule() == "statistics_same_dimension");
    auto colour = CHECK_THROWS(analyst.statistics(R"({"rows": "colour"})"), CUST_STATUS_INVALID);
    CHECK(colour && colour->rule() == "statistics_dimension");
    custodian::session marketer = store.open_marketing_session("marketer", "sms");
    auto denied = CHECK_THROWS(marketer.statistics(R"({"rows": "tier"})"), CUST_STATUS_DENIED);
    CHECK(denied && denied->rule() == "statistics.marketing");
    custodian::session moved(std::move(analyst));
    CHECK_THROWS(analyst.statistics(R"({"rows": "tier"})"), CUST_STATUS_NULL_ARGUMENT); /* moved-from */
    CHECK(contains(moved.statistics(R"({"rows": "kind"})"), "\"row_labels\":[\"individual\"]"));
}

static_assert(!std::is_copy_constructible_v<custodian::share_session>, "share session is move-only");
static_assert(std::is_nothrow_move_constructible_v<custodian::share_session> &&
                  std::is_nothrow_move_assignable_v<custodian::share_session>,
              "share sessions move without throwing");

/* A customer with a name, a mobile, an e-mail and an ID number, created by `session`; its id. */
static int64_t shared_customer(const custodian::session& session, std::string_view code, std::string_view mobile,
                               std::string_view email, std::string_view id_number) {
    custodian::input in = person(code, "王五", mobile);
    in.set(CUST_FIELD_EMAIL, email).set(CUST_FIELD_ID_NUMBER, id_number);
    return session.create(in).id();
}

/* Sharing with a third party, as tests/sharing.rs and test_api.c: a recipient with generated keys,
 * sharing consents through record_consent (channels third_party, third_party_sensitive), a share
 * of name, mobile and ID number, the recipient's share_session (granted fields only, a withdrawal
 * taking a customer out, pages), a package verified and opened with the recipient's secret only,
 * the customer's disclosures, revocation, and refused JSON, each with its status and rule. */
static void test_sharing(const std::string& dir) {
    custodian::store store = provisioned(dir, "sharing");
    custodian::session admin = store.open_session("admin", "service", true);
    custodian::session clerk = store.open_session("clerk", "service");
    custodian::session compliance = store.open_session("admin", "compliance", true);
    const int64_t day = 86400000;
    const int64_t now = static_cast<int64_t>(std::time(nullptr)) * 1000;

    custodian::recipient_keys keys = custodian::generate_recipient_keys();
    const custodian::recipient_keys other = custodian::generate_recipient_keys();
    CHECK(keys.secret.size() == 32 && keys.public_key != other.public_key);
    CHECK(custodian::recipient_public_key(keys.secret) == keys.public_key);
    CHECK_THROWS(custodian::recipient_public_key(custodian::key_view(keys.secret.data(), 31)),
                 CUST_STATUS_INVALID_ARGUMENT);
    const std::string key_hex = custodian::to_hex(keys.public_key);
    CHECK(key_hex.size() == 64 && custodian::to_hex(std::vector<uint8_t>{0x0a, 0xf1}) == "0af1");

    auto recipient_json = [&](std::string_view id, const std::string& key, std::string_view extra = "") {
        return std::string("{\"id\": \"") + std::string(id) + "\", \"name\": \"顺达物流有限公司\", \"agreement\": " +
               "\"DPA-2026-017\", \"agreement_from\": " + std::to_string(now - day) +
               ", \"agreement_until\": " + std::to_string(now + 365 * day) + ", \"public_key\": \"" + key + "\"" +
               std::string(extra) + "}";
    };
    auto unknown = CHECK_THROWS(admin.register_recipient(recipient_json("acme", key_hex, ", \"colour\": 1")),
                                CUST_STATUS_INVALID);
    CHECK(unknown && contains(unknown->message(), "invalid recipient JSON") && contains(unknown->message(), "`colour`"));
    auto short_key = CHECK_THROWS(admin.register_recipient(recipient_json("acme", "abcd")), CUST_STATUS_INVALID);
    CHECK(short_key && short_key->rule() == "recipient_public_key");
    auto low_order =
        CHECK_THROWS(admin.register_recipient(recipient_json("acme", std::string(64, '0'))), CUST_STATUS_INVALID);
    CHECK(low_order && low_order->rule() == "recipient_public_key");
    auto bad_id = CHECK_THROWS(admin.register_recipient(recipient_json("marketing", key_hex)), CUST_STATUS_INVALID);
    CHECK(bad_id && bad_id->rule() == "recipient_id");
    CHECK_THROWS(admin.register_recipient(R"(["acme"])"), CUST_STATUS_INVALID);
    CHECK_THROWS(admin.register_recipient(WITH_NUL), CUST_STATUS_INVALID);
    CHECK_THROWS(clerk.register_recipient(recipient_json("acme", key_hex)), CUST_STATUS_DENIED);
    CHECK(admin.recipients_json() == "[]");
    const std::string registered = admin.register_recipient(recipient_json("acme", key_hex));
    CHECK(contains(registered, "\"id\":\"acme\"") && contains(registered, key_hex.c_str()));
    CHECK_THROWS(admin.register_recipient(recipient_json("acme", key_hex)), CUST_STATUS_ALREADY_EXISTS);
    admin.register_recipient(recipient_json("other", custodian::to_hex(other.public_key)));
    CHECK(contains(admin.recipients_json(), "\"id\":\"other\""));

    /* 0 consents to acme, 1 to every third party with sensitive data, 2 never. */
    const int64_t ids[3] = {shared_customer(admin, "KH800", "13900000080", "user80@example.com", "110101199003078515"),
                            shared_customer(admin, "KH801", "13900000081", "user81@example.com", "11010519491231002X"),
                            shared_customer(admin, "KH802", "13900000082", "user82@example.com", "110101199003078515")};
    clerk.record_consent(ids[0], "acme", "third_party", true, "web_form", "v2");
    clerk.record_consent(ids[1], "third_parties", "third_party", true, "web_form", "v2");
    clerk.record_consent(ids[1], "third_parties", "third_party_sensitive", true, "web_form", "v2");
    auto unregistered =
        CHECK_THROWS(clerk.record_consent(ids[2], "nobody_here", "third_party", true, "web_form", "v2"),
                     CUST_STATUS_INVALID);
    CHECK(unregistered && unregistered->rule() == "consent_recipient_unknown");

    auto share_json = [&](std::string_view customers, int64_t expires_at, std::string_view recipient = "acme") {
        return std::string("{\"recipient\": \"") + std::string(recipient) +
               "\", \"purpose\": \"delivery\", \"fields\": [\"name\", \"mobile\", \"id_number\"], " +
               std::string(customers) + ", \"expires_at\": " + std::to_string(expires_at) +
               ", \"agreement\": \"DPA-2026-017\"}";
    };
    const std::string listed = "\"customers\": [" + std::to_string(ids[0]) + ", " + std::to_string(ids[1]) + ", " +
                               std::to_string(ids[2]) + "]";
    auto both = CHECK_THROWS(admin.create_share(share_json(listed + ", \"filter\": {}", now + day)), CUST_STATUS_INVALID);
    CHECK(both && both->rule() == "share_customers_or_filter");
    auto neither = CHECK_THROWS(admin.create_share(share_json("\"x\": 1", now + day)), CUST_STATUS_INVALID);
    CHECK(neither && contains(neither->message(), "`x`"));
    auto outlives = CHECK_THROWS(admin.create_share(share_json(listed, now + 400 * day)), CUST_STATUS_INVALID);
    CHECK(outlives && outlives->rule() == "share_outlives_agreement");
    CHECK_THROWS(admin.create_share(share_json(listed, now + day, "nobody_here")), CUST_STATUS_RECIPIENT_NOT_FOUND);
    CHECK_THROWS(admin.create_share(share_json("\"customers\": [987654]", now + day)), CUST_STATUS_NOT_FOUND);
    CHECK_THROWS(admin.create_share("[]"), CUST_STATUS_INVALID);
    CHECK_THROWS(clerk.create_share(share_json(listed, now + day)), CUST_STATUS_DENIED);
    CHECK(admin.shares_json() == "[]");
    std::string created;
    const uint64_t share = admin.create_share(share_json(listed, now + 30 * day), &created);
    CHECK(share == 1 && contains(created, "\"id\":1,\"recipient\":\"acme\"") && contains(created, "\"listed\":["));
    CHECK(admin.create_share(share_json("\"filter\": {\"tier\": \"Z\"}", now + day)) == 2);
    CHECK(contains(admin.shares_json(), "\"matching\":{\"tier\":\"Z\"}"));

    /* The recipient's session: granted fields of consenting customers only. */
    CHECK_THROWS(store.open_share_session(999), CUST_STATUS_SHARE_NOT_FOUND);
    custodian::share_session session = store.open_share_session(share);
    CHECK(session.share_id() == share && session.recipient() == "acme");
    const custodian::customer first = session.get(ids[0]);
    CHECK(first.text(CUST_FIELD_MOBILE) == "13900000080" && first.text(CUST_FIELD_NAME) == "王五");
    CHECK(first.field(CUST_FIELD_ID_NUMBER).shown == CUST_SHOWN_WITHHELD);
    CHECK(first.field(CUST_FIELD_EMAIL).shown == CUST_SHOWN_WITHHELD && !first.value(CUST_FIELD_EMAIL));
    CHECK(session.get(ids[1]).text(CUST_FIELD_ID_NUMBER) == "11010519491231002X");
    auto outside = CHECK_THROWS(session.get(ids[2]), CUST_STATUS_NOT_FOUND);
    CHECK(outside && contains(session.last_error(), "not found"));
    custodian::share_page page = session.customers(0, 1);
    CHECK(page.customers.size() == 1 && page.customers[0].id() == ids[0] && page.next == ids[0]);
    page = session.customers(page.next, 1);
    CHECK(page.customers.size() == 1 && page.customers[0].id() == ids[1] && page.next == 0);
    CHECK_THROWS(session.customers(0, 0), CUST_STATUS_INVALID_ARGUMENT);
    int seen = 0;
    for (custodian::customer_ref each : session.customers().customers) seen += each.id() == ids[1];
    CHECK(seen == 1);

    /* The package: verified without a key, opened with the recipient's secret only. */
    const std::vector<uint8_t> package = session.package();
    const std::string package_text(package.begin(), package.end());
    CHECK(package.size() > 100 && package_text.compare(0, 8, "CUSTSHR1") == 0);
    CHECK(!contains(package_text, "13900000080") && !contains(package_text, "王五"));
    const std::string manifest = custodian::verify_package(package);
    CHECK(contains(manifest, "\"recipient\":\"acme\"") && contains(manifest, "\"count\":2") &&
          contains(manifest, "\"sha256\":\""));
    const std::string content = custodian::open_package(package, keys.secret);
    CHECK(contains(content, "\"mobile\":\"13900000080\"") && contains(content, "\"withheld\":[\"id_number\"]"));
    CHECK(contains(content, "\"id_number\":\"11010519491231002X\"") && !contains(content, "example.com"));
    auto wrong = CHECK_THROWS(custodian::open_package(package, other.secret), CUST_STATUS_PACKAGE_REJECTED);
    CHECK(wrong && contains(wrong->message(), "another key"));
    CHECK_THROWS(custodian::verify_package(package.data(), package.size() - 1), CUST_STATUS_PACKAGE_REJECTED);
    CHECK_THROWS(custodian::open_package(package.data(), 40, keys.secret), CUST_STATUS_PACKAGE_REJECTED);
    std::vector<uint8_t> altered = package;
    altered[altered.size() / 2] ^= 0x20;
    CHECK_THROWS(custodian::open_package(altered, keys.secret), CUST_STATUS_PACKAGE_REJECTED);
    CHECK_THROWS(custodian::verify_package(altered), CUST_STATUS_PACKAGE_REJECTED);
    CHECK_THROWS(custodian::open_package(package, custodian::key_view(keys.secret.data(), 16)),
                 CUST_STATUS_INVALID_ARGUMENT);

    /* A withdrawal takes the customer out on the next call; the history stays. */
    clerk.record_consent(ids[0], "third_parties", "third_party", false, "call", "v2");
    CHECK_THROWS(session.get(ids[0]), CUST_STATUS_NOT_FOUND);
    CHECK_THROWS(clerk.customer_shares_json(ids[0]), CUST_STATUS_DENIED);
    const std::string account = compliance.customer_shares_json(ids[0]);
    CHECK(contains(account, "\"inside_now\":false") && contains(account, "\"action\":\"share.get\"") &&
          contains(account, "\"action\":\"share.package\"") && !contains(account, "13900000080"));

    /* Moves; the session keeps the store alive; revocation ends it. */
    custodian::share_session moved(std::move(session));
    CHECK(!session && session.share_id() == 0 && moved.share_id() == share);
    CHECK_THROWS(session.get(ids[1]), CUST_STATUS_NULL_ARGUMENT);
    session = std::move(moved);
    CHECK(session && !moved);
    const std::string revoked = admin.revoke_share(share, "contract ended");
    CHECK(contains(revoked, "\"reason\":\"contract ended\""));
    auto again = CHECK_THROWS(admin.revoke_share(share, "again"), CUST_STATUS_INVALID);
    CHECK(again && again->rule() == "already_revoked");
    CHECK_THROWS(admin.revoke_share(999, "x"), CUST_STATUS_SHARE_NOT_FOUND);
    auto ended = CHECK_THROWS(session.package(), CUST_STATUS_DENIED);
    CHECK(ended && ended->rule() == "share.revoked");
    custodian::share_session second = store.open_share_session(2);
    CHECK(contains(admin.revoke_recipient("acme", "breach"), "\"reason\":\"breach\""));
    CHECK_THROWS(admin.revoke_recipient("nobody_here", "breach"), CUST_STATUS_RECIPIENT_NOT_FOUND);
    store.close();
    auto gone = CHECK_THROWS(second.customers(), CUST_STATUS_DENIED);
    CHECK(gone && gone->rule() == "share.recipient_revoked");
}

/* A store on a PostgreSQL server when the environment names one (see
 * .ci/postgres.sh); otherwise only the refusals. */
static void test_postgres(const std::string& dir) {
    const char* data = std::getenv("CUSTODIAN_TEST_DATABASE_URL");
    const char* keys = std::getenv("CUSTODIAN_TEST_KEY_STORE_URL");
    CHECK_THROWS(custodian::store::open_url("dbname=d", BAD_UTF8, KEY), CUST_STATUS_INVALID_UTF8);
    CHECK_THROWS(custodian::store::create_url(WITH_NUL, "dbname=k", KEY), CUST_STATUS_INVALID);
    if (data == nullptr || keys == nullptr) {
        /* Built without the backend (invalid argument) or no server there (storage). */
        cust_status refused = CUST_STATUS_OK;
        try {
            custodian::store::open_url("host=127.0.0.1 port=1 dbname=d connect_timeout=2",
                                       "host=127.0.0.1 port=1 dbname=k connect_timeout=2", KEY);
        } catch (const error& e) {
            refused = e.status();
        }
        CHECK(refused == CUST_STATUS_INVALID_ARGUMENT || refused == CUST_STATUS_STORAGE);
        std::printf("postgres: CUSTODIAN_TEST_DATABASE_URL is not set; only the refusals were checked\n");
        return;
    }
    uint32_t hash = 2166136261u;
    for (char c : dir) hash = (hash ^ static_cast<uint8_t>(c)) * 16777619u;
    hash ^= static_cast<uint32_t>(std::time(nullptr));
    char name[64];
    std::snprintf(name, sizeof name, "cpp_%08x", static_cast<unsigned>(hash));
    const std::string schema = name;
    CHECK_THROWS(custodian::store::open_url(data, keys, KEY, schema), CUST_STATUS_NOT_A_STORE);
    auto bad = CHECK_THROWS(custodian::store::create_url(data, keys, KEY, std::string_view("no such schema")),
                            CUST_STATUS_INVALID_ARGUMENT);
    CHECK(bad && bad->rule() == "postgres_schema_name");
    int64_t kept = 0;
    {
        custodian::store store = custodian::store::create_url(data, keys, KEY, schema);
        CHECK_THROWS(custodian::store::create_url(data, keys, KEY, schema), CUST_STATUS_ALREADY_EXISTS);
        store.bootstrap_admin("admin", "Administrator");
        custodian::session admin = store.open_session("admin", "service", true);
        custodian::session compliance = store.open_session("admin", "compliance", true);
        custodian::input first(CUST_KIND_INDIVIDUAL);
        first.set(CUST_FIELD_NAME, "周洁").set(CUST_FIELD_MOBILE, "13600000001");
        kept = admin.create(first).id();
        custodian::input second(CUST_KIND_INDIVIDUAL);
        second.set(CUST_FIELD_NAME, "吴昊").set(CUST_FIELD_MOBILE, "13600000002");
        const int64_t gone = admin.create(second).id();
        compliance.erase(gone, "dsr-pg");
        CHECK_THROWS(compliance.get(gone), CUST_STATUS_NOT_FOUND);
        CHECK(!store.purge_owed());
        CHECK(store.verify_audit() >= 5);
    }
    CHECK_THROWS(custodian::store::open_url(data, keys, WRONG_KEY, schema), CUST_STATUS_WRONG_KEY);
    custodian::store store = custodian::store::open_url(data, keys, KEY, schema);
    custodian::session admin = store.open_session("admin", "service", true);
    CHECK(admin.get(kept).text(CUST_FIELD_NAME) == "周洁");

    /* A passphrase store in a schema of its own. */
    const std::string passphrase_schema = schema + "_p";
    CHECK_THROWS(custodian::store::create_url(data, keys, custodian::passphrase("short"), passphrase_schema, 100000),
                 CUST_STATUS_INVALID);
    {
        custodian::store created = custodian::store::create_url(
            data, keys, custodian::passphrase("a long passphrase 2026"), passphrase_schema, 100000);
        created.bootstrap_admin("admin", "Administrator");
    }
    CHECK_THROWS(
        custodian::store::open_url(data, keys, custodian::passphrase("another long passphrase"), passphrase_schema),
        CUST_STATUS_WRONG_KEY);
    custodian::store again =
        custodian::store::open_url(data, keys, custodian::passphrase("a long passphrase 2026"), passphrase_schema);
    CHECK(again.verify_audit() >= 1);
    std::printf("postgres: a store in schema %s created, used, erased from, verified and reopened\n", name);
}

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <empty-directory>\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    struct test {
        const char* name;
        void (*run)(const std::string&);
    };
    const test tests[] = {
        {"basics", [](const std::string&) { test_basics(); }},
        {"store lifecycle", test_store_lifecycle},
        {"customers", test_customers},
        {"principals, consent, audit", test_principals_consent_audit},
        {"legacy import", test_legacy_import},
        {"threads", test_threads},
        {"lifecycle", test_lifecycle},
        {"throwing sink", test_throwing_sink},
        {"passphrase lifecycle", test_passphrase_lifecycle},
        {"records", test_records},
        {"service levels", test_service_levels},
        {"csv", test_csv},
        {"csv problems only", test_csv_problems_only},
        {"duplicates", test_duplicates},
        {"four eyes", test_four_eyes},
        {"merge", test_merge},
        {"organisations", test_organisations},
        {"statistics", test_statistics},
        {"sharing", test_sharing},
        {"search index", test_search_index},
        {"postgres", test_postgres},
    };
    for (const test& t : tests) {
        try {
            t.run(dir);
        } catch (const error& e) {
            failures++;
            checks++;
            std::fprintf(stderr, "%s: unexpected custodian::error (status %u): %s\n", t.name,
                         static_cast<unsigned>(e.status()), e.what());
        } catch (const std::exception& e) {
            failures++;
            checks++;
            std::fprintf(stderr, "%s: unexpected exception: %s\n", t.name, e.what());
        }
    }
    std::printf("C++ API checks: %d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
