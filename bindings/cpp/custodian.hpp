/* custodian: the C++17 wrapper over the C API (include/custodian.h), header-only.
 *
 * - Handles are move-only RAII objects: store, session, customer, customer_list, input,
 *   import_report, transaction_input, service_input, record, record_list, share_session. A moved-from handle is empty; calling through it throws error with
 *   CUST_STATUS_NULL_ARGUMENT, as the C API would.
 * - Every failing call throws custodian::error: status(), rule() and the message of this
 *   thread's last error (cust_last_error, which the library sets on every failure, so the
 *   message always belongs to the call that threw even when a store or session is shared
 *   between threads; store::last_error() and session::last_error() read the handle's copy).
 * - Text goes in as std::string_view and is copied into a NUL-terminated buffer that is
 *   wiped after the call; text holding a NUL byte is refused with CUST_STATUS_INVALID
 *   (rule nul_byte) before the library sees it. Text comes out as std::string, JSON
 *   results as std::string too (no JSON library needed).
 * - Keys are key_view (pointer and length, std::array or std::vector of bytes, never
 *   copied); passphrases are wrapped in custodian::passphrase to tell the overloads apart.
 * - Checkpoint and receipt sinks are std::function objects the store owns; sessions opened
 *   on the store share that ownership, because the library may call a sink for as long as
 *   any session keeps the store alive. A sink receives a view valid only during the call, and
 *   must not throw: an exception it throws is swallowed at the C boundary. Handles close their
 *   C handle before they release the sinks.
 * - A customer_ref borrowed from a customer_list (a record_ref from a record_list) is valid
 *   only while the list lives. */

#ifndef CUSTODIAN_HPP
#define CUSTODIAN_HPP

#include "custodian.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace custodian {

class error : public std::runtime_error {
public:
    error(cust_status status, const std::string& message)
        : std::runtime_error(message), status_(status), rule_(parse_rule(message)) {}

    cust_status status() const noexcept { return status_; }
    const std::string& rule() const noexcept { return rule_; }
    std::string message() const { return what(); }
    std::string_view status_text() const noexcept { return cust_status_str(status_); }

    static std::string parse_rule(std::string_view message) {
        auto word = [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                   c == '.' || c == '-';
        };
        std::string found;
        for (std::size_t at = message.find("(rule "); at != std::string_view::npos;
             at = message.find("(rule ", at + 1)) {
            std::size_t begin = at + 6, end = begin;
            while (end < message.size() && word(message[end])) ++end;
            if (end > begin && end < message.size() && message[end] == ')') {
                found.assign(message.substr(begin, end - begin));
            }
        }
        if (!found.empty()) return found;
        constexpr std::string_view denied = "denied by rule ";
        std::size_t at = message.find(denied);
        if (at != std::string_view::npos) {
            std::size_t begin = at + denied.size(), end = begin;
            while (end < message.size() && word(message[end])) ++end;
            while (end > begin && message[end - 1] == '.') --end;
            found.assign(message.substr(begin, end - begin));
        }
        return found;
    }

private:
    cust_status status_;
    std::string rule_;
};

namespace detail {

inline void wipe(void* p, std::size_t len) noexcept { cust_memzero(static_cast<uint8_t*>(p), len); }

template <typename Call>
std::string copy_out(Call&& call, cust_status& status) {
    std::size_t needed = 0;
    status = call(nullptr, 0, &needed);
    for (int attempt = 0; attempt < 8 && status == CUST_STATUS_BUFFER_TOO_SMALL && needed > 0; ++attempt) {
        std::string out(needed, '\0');
        std::size_t again = 0;
        status = call(out.data(), out.size(), &again);
        if (status == CUST_STATUS_OK) {
            out.resize(again - 1);
            return out;
        }
        wipe(out.data(), out.size());
        needed = again;
    }
    return std::string();
}

inline std::string thread_last_error() {
    cust_status status = CUST_STATUS_OK;
    return copy_out([](char* buf, std::size_t len, std::size_t* needed) { return cust_last_error(buf, len, needed); },
                    status);
}

[[noreturn]] inline void fail(cust_status status) { throw error(status, thread_last_error()); }

inline void check(cust_status status) {
    if (status != CUST_STATUS_OK) fail(status);
}

template <typename Call>
std::string text_out(Call&& call) {
    cust_status status = CUST_STATUS_OK;
    std::string out = copy_out(std::forward<Call>(call), status);
    check(status);
    return out;
}

inline std::string take_string(char* s) {
    struct release {
        char* s;
        ~release() { cust_string_free(s); }
    } guard{s};
    return s == nullptr ? std::string() : std::string(s);
}

[[noreturn]] inline void refuse_nul(const char* name) {
    throw error(CUST_STATUS_INVALID, std::string("invalid value for argument '") + name +
                                         "': it contains a NUL byte, which a C string cannot carry (rule nul_byte)");
}

class text {
public:
    text(std::string_view value, const char* name) : value_(value) {
        if (value_.find('\0') != std::string::npos) {
            wipe(value_.data(), value_.size());
            refuse_nul(name);
        }
    }
    text(const text&) = delete;
    text& operator=(const text&) = delete;
    ~text() { wipe(value_.data(), value_.size()); }
    const char* c_str() const noexcept { return value_.c_str(); }

private:
    std::string value_;
};

/* A text or none (NULL). Holds a plain string and a flag rather than std::optional<text>,
 * which GCC's -Wmaybe-uninitialized misjudges when a std::nullopt argument is inlined. */
class optional_text {
public:
    optional_text(const std::optional<std::string_view>& value, const char* name) : present_(value.has_value()) {
        if (!present_) return;
        value_.assign(value->data(), value->size());
        if (value_.find('\0') != std::string::npos) {
            wipe(value_.data(), value_.size());
            refuse_nul(name);
        }
    }
    optional_text(const optional_text&) = delete;
    optional_text& operator=(const optional_text&) = delete;
    ~optional_text() { wipe(value_.data(), value_.size()); }
    const char* c_str() const noexcept { return present_ ? value_.c_str() : nullptr; }

private:
    bool present_;
    std::string value_;
};

class text_array {
public:
    text_array(const std::vector<std::string>& values, const char* name) {
        values_.reserve(values.size());
        pointers_.reserve(values.size());
        for (const std::string& value : values) {
            if (value.find('\0') != std::string::npos) {
                clear();
                refuse_nul(name);
            }
            values_.emplace_back(value);
            pointers_.push_back(values_.back().c_str());
        }
    }
    text_array(const text_array&) = delete;
    text_array& operator=(const text_array&) = delete;
    ~text_array() { clear(); }
    const char* const* data() const noexcept {
        static const char* const none[1] = {nullptr};
        return pointers_.empty() ? none : pointers_.data();
    }
    std::size_t size() const noexcept { return pointers_.size(); }

private:
    void clear() noexcept {
        for (std::string& value : values_) wipe(value.data(), value.size());
    }
    std::vector<std::string> values_;
    std::vector<const char*> pointers_;
};

template <typename T, void (*Free)(T*)>
class owned {
public:
    owned() noexcept = default;
    explicit owned(T* p) noexcept : p_(p) {}
    owned(owned&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
    owned& operator=(owned&& other) noexcept {
        if (this != &other) {
            reset();
            p_ = std::exchange(other.p_, nullptr);
        }
        return *this;
    }
    owned(const owned&) = delete;
    owned& operator=(const owned&) = delete;
    ~owned() { reset(); }
    void reset() noexcept {
        if (p_ != nullptr) Free(std::exchange(p_, nullptr));
    }
    T* get() const noexcept { return p_; }

private:
    T* p_ = nullptr;
};

}  // namespace detail

using text_sink = std::function<void(std::string_view)>;

class key_view {
public:
    key_view(const uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}
    template <std::size_t N>
    key_view(const std::array<uint8_t, N>& key) noexcept : data_(key.data()), size_(N) {}
    template <std::size_t N>
    key_view(const uint8_t (&key)[N]) noexcept : data_(key), size_(N) {}
    key_view(const std::vector<uint8_t>& key) noexcept : data_(key.data()), size_(key.size()) {}
    const uint8_t* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }

private:
    const uint8_t* data_;
    std::size_t size_;
};

class passphrase {
public:
    explicit passphrase(std::string_view text) noexcept : text_(text) {}
    std::string_view text() const noexcept { return text_; }

private:
    std::string_view text_;
};

class secret_bytes {
public:
    secret_bytes() = default;
    secret_bytes(const uint8_t* data, std::size_t size) : bytes_(data, data + size) {}
    secret_bytes(secret_bytes&& other) noexcept : bytes_(std::move(other.bytes_)) { other.bytes_.clear(); }
    secret_bytes& operator=(secret_bytes&& other) noexcept {
        if (this != &other) {
            wipe();
            bytes_ = std::move(other.bytes_);
            other.bytes_.clear();
        }
        return *this;
    }
    secret_bytes(const secret_bytes&) = delete;
    secret_bytes& operator=(const secret_bytes&) = delete;
    ~secret_bytes() { wipe(); }
    const uint8_t* data() const noexcept { return bytes_.data(); }
    std::size_t size() const noexcept { return bytes_.size(); }
    bool empty() const noexcept { return bytes_.empty(); }
    uint8_t operator[](std::size_t index) const { return bytes_.at(index); }
    /// The bytes as a key argument (a recipient secret for `open_package`), never copied.
    operator key_view() const noexcept { return key_view(bytes_.data(), bytes_.size()); }

private:
    void wipe() noexcept { detail::wipe(bytes_.data(), bytes_.size()); }
    std::vector<uint8_t> bytes_;
};

inline std::string_view version() noexcept { return cust_version(); }

inline std::string_view status_str(cust_status status) noexcept { return cust_status_str(status); }

inline std::string last_error() { return detail::thread_last_error(); }

class input {
public:
    explicit input(cust_kind kind = CUST_KIND_INDIVIDUAL) {
        cust_input* made = nullptr;
        detail::check(cust_input_new(kind, &made));
        handle_ = handle_type(made);
    }
    input& set(cust_field field, std::string_view value) {
        detail::text v(value, "value");
        detail::check(cust_input_set(handle_.get(), field, v.c_str()));
        return *this;
    }
    input& clear(cust_field field) {
        detail::check(cust_input_set(handle_.get(), field, nullptr));
        return *this;
    }
    const cust_input* native_handle() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_.get() != nullptr; }

private:
    using handle_type = detail::owned<cust_input, &cust_input_free>;
    handle_type handle_;
};

struct field_value {
    std::string text;
    cust_shown shown = CUST_SHOWN_ABSENT;
};

class customer_ref {
public:
    customer_ref() noexcept = default;
    explicit customer_ref(const cust_customer* customer) noexcept : ptr_(customer) {}

    int64_t id() const noexcept { return cust_customer_id(ptr_); }
    uint64_t version() const noexcept { return cust_customer_version(ptr_); }

    field_value field(cust_field field) const {
        field_value out;
        uint32_t shown = CUST_SHOWN_ABSENT;
        out.text = detail::text_out([&](char* buf, std::size_t len, std::size_t* needed) {
            return cust_customer_field(ptr_, field, buf, len, needed, &shown);
        });
        out.shown = static_cast<cust_shown>(shown);
        return out;
    }
    std::string text(cust_field f) const { return field(f).text; }
    std::optional<std::string> value(cust_field f) const {
        field_value v = field(f);
        if (v.shown == CUST_SHOWN_ABSENT || v.shown == CUST_SHOWN_WITHHELD) return std::nullopt;
        return std::move(v.text);
    }
    std::string to_json() const {
        char* json = nullptr;
        detail::check(cust_customer_to_json(ptr_, &json));
        return detail::take_string(json);
    }
    const cust_customer* native_handle() const noexcept { return ptr_; }
    explicit operator bool() const noexcept { return ptr_ != nullptr; }

protected:
    const cust_customer* ptr_ = nullptr;
};

class customer : public customer_ref {
public:
    customer() noexcept = default;
    explicit customer(cust_customer* owned) noexcept : customer_ref(owned), handle_(owned) {}
    customer(customer&& other) noexcept : customer_ref(other.ptr_), handle_(std::move(other.handle_)) {
        other.ptr_ = nullptr;
    }
    customer& operator=(customer&& other) noexcept {
        if (this != &other) {
            handle_ = std::move(other.handle_);
            ptr_ = std::exchange(other.ptr_, nullptr);
        }
        return *this;
    }
    customer(const customer&) = delete;
    customer& operator=(const customer&) = delete;
    ~customer() = default;

private:
    detail::owned<cust_customer, &cust_customer_free> handle_;
};

class customer_list {
public:
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = customer_ref;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = customer_ref;

        iterator() noexcept = default;
        iterator(const customer_list* list, std::size_t index) noexcept : list_(list), index_(index) {}
        customer_ref operator*() const { return list_->at(index_); }
        iterator& operator++() noexcept {
            ++index_;
            return *this;
        }
        iterator operator++(int) noexcept {
            iterator before = *this;
            ++index_;
            return before;
        }
        bool operator==(const iterator& other) const noexcept {
            return list_ == other.list_ && index_ == other.index_;
        }
        bool operator!=(const iterator& other) const noexcept { return !(*this == other); }

    private:
        const customer_list* list_ = nullptr;
        std::size_t index_ = 0;
    };

    customer_list() noexcept = default;
    explicit customer_list(cust_list* owned) noexcept : handle_(owned) {}

    std::size_t size() const noexcept { return cust_list_len(handle_.get()); }
    bool empty() const noexcept { return size() == 0; }
    uint64_t total() const noexcept { return cust_list_total(handle_.get()); }
    customer_ref at(std::size_t index) const {
        const cust_customer* item = nullptr;
        detail::check(cust_list_get(handle_.get(), index, &item));
        return customer_ref(item);
    }
    customer_ref operator[](std::size_t index) const { return at(index); }
    iterator begin() const noexcept { return iterator(this, 0); }
    iterator end() const noexcept { return iterator(this, size()); }
    const cust_list* native_handle() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_.get() != nullptr; }

private:
    detail::owned<cust_list, &cust_list_free> handle_;
};

/* Attached records. Enumerated values (statuses, payment methods, kinds, channels,
 * priorities) and record fields go by their stable names: "bank_card", "in_progress",
 * "transaction.total". Amounts are integers in the currency's minor unit (fen for CNY). */

class transaction_input {
public:
    transaction_input(std::string_view reference, std::string_view currency, int64_t total_minor,
                      std::string_view method) {
        detail::text r(reference, "reference"), c(currency, "currency"), m(method, "method");
        cust_transaction_input* made = nullptr;
        detail::check(cust_transaction_input_new(r.c_str(), c.c_str(), total_minor, m.c_str(), &made));
        handle_ = handle_type(made);
    }
    transaction_input& item(std::string_view name, int64_t quantity, int64_t unit_price_minor) {
        detail::text n(name, "item");
        detail::check(cust_transaction_input_add_item(handle_.get(), n.c_str(), quantity, unit_price_minor));
        return *this;
    }
    transaction_input& adjustment(std::string_view label, int64_t amount_minor) {
        detail::text l(label, "label");
        detail::check(cust_transaction_input_add_adjustment(handle_.get(), l.c_str(), amount_minor));
        return *this;
    }
    transaction_input& status(std::string_view status) {
        detail::text s(status, "status");
        detail::check(cust_transaction_input_set_status(handle_.get(), s.c_str()));
        return *this;
    }
    transaction_input& at(int64_t unix_ms) {
        detail::check(cust_transaction_input_set_time(handle_.get(), unix_ms));
        return *this;
    }
    transaction_input& card(std::string_view number) {
        detail::text n(number, "number");
        detail::check(cust_transaction_input_set_card(handle_.get(), n.c_str()));
        return *this;
    }
    transaction_input& bank_account(std::string_view account) {
        detail::text a(account, "account");
        detail::check(cust_transaction_input_set_bank_account(handle_.get(), a.c_str()));
        return *this;
    }
    const cust_transaction_input* native_handle() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_.get() != nullptr; }

private:
    using handle_type = detail::owned<cust_transaction_input, &cust_transaction_input_free>;
    handle_type handle_;
};

class service_input {
public:
    service_input(std::string_view kind, std::string_view channel, std::string_view subject,
                  std::optional<std::string_view> description = std::nullopt) {
        detail::text k(kind, "kind"), c(channel, "channel"), s(subject, "subject");
        detail::optional_text d(description, "description");
        cust_service_input* made = nullptr;
        detail::check(cust_service_input_new(k.c_str(), c.c_str(), s.c_str(), d.c_str(), &made));
        handle_ = handle_type(made);
    }
    service_input& priority(std::string_view priority) {
        detail::text p(priority, "priority");
        detail::check(cust_service_input_set_priority(handle_.get(), p.c_str()));
        return *this;
    }
    service_input& owner(std::optional<std::string_view> owner) {
        detail::optional_text o(owner, "owner");
        detail::check(cust_service_input_set_owner(handle_.get(), o.c_str()));
        return *this;
    }
    service_input& opened_at(int64_t unix_ms) {
        detail::check(cust_service_input_set_opened_at(handle_.get(), unix_ms));
        return *this;
    }
    service_input& due_at(int64_t unix_ms) {
        detail::check(cust_service_input_set_due_at(handle_.get(), unix_ms));
        return *this;
    }
    const cust_service_input* native_handle() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_.get() != nullptr; }

private:
    using handle_type = detail::owned<cust_service_input, &cust_service_input_free>;
    handle_type handle_;
};

class record_ref {
public:
    record_ref() noexcept = default;
    explicit record_ref(const cust_record* record) noexcept : ptr_(record) {}

    uint64_t id() const noexcept { return cust_record_id(ptr_); }
    int64_t customer() const noexcept { return cust_record_customer(ptr_); }
    std::string_view kind() const noexcept { return cust_record_kind(ptr_); }
    uint64_t version() const noexcept { return cust_record_version(ptr_); }
    bool overdue() const noexcept { return cust_record_overdue(ptr_); }

    field_value field(std::string_view name) const {
        detail::text n(name, "field");
        field_value out;
        uint32_t shown = CUST_SHOWN_ABSENT;
        out.text = detail::text_out([&](char* buf, std::size_t len, std::size_t* needed) {
            return cust_record_field(ptr_, n.c_str(), buf, len, needed, &shown);
        });
        out.shown = static_cast<cust_shown>(shown);
        return out;
    }
    std::string text(std::string_view name) const { return field(name).text; }
    std::optional<std::string> value(std::string_view name) const {
        field_value v = field(name);
        if (v.shown == CUST_SHOWN_ABSENT || v.shown == CUST_SHOWN_WITHHELD) return std::nullopt;
        return std::move(v.text);
    }
    std::string to_json() const {
        char* json = nullptr;
        detail::check(cust_record_to_json(ptr_, &json));
        return detail::take_string(json);
    }
    std::string history_json() const {
        char* json = nullptr;
        detail::check(cust_record_history_json(ptr_, &json));
        return detail::take_string(json);
    }
    const cust_record* native_handle() const noexcept { return ptr_; }
    explicit operator bool() const noexcept { return ptr_ != nullptr; }

protected:
    const cust_record* ptr_ = nullptr;
};

class record : public record_ref {
public:
    record() noexcept = default;
    explicit record(cust_record* owned) noexcept : record_ref(owned), handle_(owned) {}
    record(record&& other) noexcept : record_ref(other.ptr_), handle_(std::move(other.handle_)) {
        other.ptr_ = nullptr;
    }
    record& operator=(record&& other) noexcept {
        if (this != &other) {
            handle_ = std::move(other.handle_);
            ptr_ = std::exchange(other.ptr_, nullptr);
        }
        return *this;
    }
    record(const record&) = delete;
    record& operator=(const record&) = delete;
    ~record() = default;

private:
    detail::owned<cust_record, &cust_record_free> handle_;
};

class record_list {
public:
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = record_ref;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = record_ref;

        iterator() noexcept = default;
        iterator(const record_list* list, std::size_t index) noexcept : list_(list), index_(index) {}
        record_ref operator*() const { return list_->at(index_); }
        iterator& operator++() noexcept {
            ++index_;
            return *this;
        }
        iterator operator++(int) noexcept {
            iterator before = *this;
            ++index_;
            return before;
        }
        bool operator==(const iterator& other) const noexcept {
            return list_ == other.list_ && index_ == other.index_;
        }
        bool operator!=(const iterator& other) const noexcept { return !(*this == other); }

    private:
        const record_list* list_ = nullptr;
        std::size_t index_ = 0;
    };

    record_list() noexcept = default;
    explicit record_list(cust_record_list* owned) noexcept : handle_(owned) {}

    std::size_t size() const noexcept { return cust_record_list_len(handle_.get()); }
    bool empty() const noexcept { return size() == 0; }
    /* The id to continue from (timeline `before`, due-query `after`); 0 on the last page. */
    uint64_t next() const noexcept { return cust_record_list_next(handle_.get()); }
    record_ref at(std::size_t index) const {
        const cust_record* item = nullptr;
        detail::check(cust_record_list_get(handle_.get(), index, &item));
        return record_ref(item);
    }
    record_ref operator[](std::size_t index) const { return at(index); }
    iterator begin() const noexcept { return iterator(this, 0); }
    iterator end() const noexcept { return iterator(this, size()); }
    const cust_record_list* native_handle() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_.get() != nullptr; }

private:
    detail::owned<cust_record_list, &cust_record_list_free> handle_;
};

struct list_filter {
    std::optional<std::string_view> kind;
    std::optional<std::string_view> category;
    std::optional<std::string_view> tier;
    std::optional<std::string_view> source;
};

struct import_row {
    std::size_t slot = 0;
    int64_t customer = 0;
    bool verified = false;
    std::vector<std::string> problems;
};

struct import_match {
    std::size_t slot = 0;
    int64_t customer = 0;
    cust_match outcome = CUST_MATCH_PRESENT;
    std::string fields;
};

/// How a CSV import reads its file and treats its rows.
struct csv_import_options {
    std::optional<std::string_view> encoding;  ///< "auto" (default), "utf-8" or "gbk"
    bool reject_invalid = false;                ///< leave rows that fail validation out
    bool update_existing = false;               ///< apply matched rows that differ
    std::function<void(uint64_t rows, uint64_t bytes)> progress;  ///< every thousand rows and at the end
    bool problems_only = false;  ///< list only the rows to look at; import_report::counts() counts every row
};

/// How many rows of an import went which way: created (of which verified), already present,
/// conflicts, updated, rejected. Complete even when the report lists only the problems.
using import_counts = cust_import_counts;

/// What a CSV export writes.
struct csv_export_options {
    std::optional<std::string_view> columns;   ///< comma-separated field names (default: every writable field)
    std::optional<std::string_view> encoding;  ///< "utf-8" (default), "utf-8-bom" or "gbk"
    bool chinese_headers = false;              ///< 编号, 姓名, ... as the header
    std::optional<std::string_view> kind, category, tier, source;  ///< filters
};

class import_report {
public:
    import_report() noexcept = default;
    explicit import_report(cust_import_report* owned) noexcept : handle_(owned) {}

    /// The rows listed as created (with problems_only, only those with something to report).
    std::size_t size() const noexcept { return cust_import_report_len(handle_.get()); }
    /// The matched rows listed (with problems_only, only conflicts and updates).
    std::size_t matched_size() const noexcept { return cust_import_report_matched_len(handle_.get()); }
    /// Every row counted by outcome, whatever the report lists (see `cust_import_report_counts`).
    import_counts counts() const {
        import_counts out{};
        detail::check(cust_import_report_counts(handle_.get(), &out));
        return out;
    }
    import_row row(std::size_t index) const {
        import_row out;
        std::size_t problems = 0;
        detail::check(
            cust_import_report_row(handle_.get(), index, &out.slot, &out.customer, &out.verified, &problems));
        out.problems.reserve(problems);
        for (std::size_t p = 0; p < problems; ++p) out.problems.push_back(problem(index, p));
        return out;
    }
    std::string problem(std::size_t index, std::size_t problem) const {
        return detail::text_out([&](char* buf, std::size_t len, std::size_t* needed) {
            return cust_import_report_problem(handle_.get(), index, problem, buf, len, needed);
        });
    }
    import_match matched(std::size_t index) const {
        import_match out;
        uint32_t outcome = CUST_MATCH_PRESENT;
        out.fields = detail::text_out([&](char* buf, std::size_t len, std::size_t* needed) {
            return cust_import_report_matched(handle_.get(), index, &out.slot, &out.customer, &outcome, buf, len,
                                              needed);
        });
        out.outcome = static_cast<cust_match>(outcome);
        return out;
    }
    std::vector<import_row> rows() const {
        std::vector<import_row> out;
        out.reserve(size());
        for (std::size_t i = 0; i < size(); ++i) out.push_back(row(i));
        return out;
    }
    std::vector<import_match> matches() const {
        std::vector<import_match> out;
        out.reserve(matched_size());
        for (std::size_t i = 0; i < matched_size(); ++i) out.push_back(matched(i));
        return out;
    }
    /// Rows left out for failing validation (`customer` 0, `verified` false).
    std::vector<import_row> rejected() const {
        std::vector<import_row> out;
        const std::size_t n = cust_import_report_rejected_len(handle_.get());
        for (std::size_t i = 0; i < n; ++i) {
            import_row row;
            std::size_t problems = 0;
            detail::check(cust_import_report_rejected(handle_.get(), i, &row.slot, &problems));
            for (std::size_t p = 0; p < problems; ++p) {
                row.problems.push_back(detail::text_out([&](char* buf, std::size_t len, std::size_t* needed) {
                    return cust_import_report_rejected_problem(handle_.get(), i, p, buf, len, needed);
                }));
            }
            out.push_back(std::move(row));
        }
        return out;
    }
    const cust_import_report* native_handle() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_.get() != nullptr; }

private:
    detail::owned<cust_import_report, &cust_import_report_free> handle_;
};

namespace detail {

/// `value` as a JSON string literal.
inline std::string json_string(std::string_view value) {
    static const char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (char c : value) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (byte < 0x20) {
            out += "\\u00";
            out += hex[byte >> 4];
            out += hex[byte & 0xf];
        } else {
            out += c;
        }
    }
    return out + "\"";
}

/// The options JSON of `cust_import_csv_with` for `options` (its progress callback goes separately).
inline std::string import_options_json(const csv_import_options& options) {
    std::string out = "{";
    if (options.encoding) out += "\"encoding\": " + json_string(*options.encoding) + ", ";
    out += std::string("\"reject_invalid\": ") + (options.reject_invalid ? "true" : "false");
    out += std::string(", \"update_existing\": ") + (options.update_existing ? "true" : "false");
    out += std::string(", \"problems_only\": ") + (options.problems_only ? "true" : "false");
    return out + "}";
}

struct sinks {
    text_sink checkpoint;
    text_sink receipt;

    static void on_checkpoint(void* user, const char* text) noexcept { deliver(static_cast<sinks*>(user)->checkpoint, text); }
    static void on_receipt(void* user, const char* text) noexcept { deliver(static_cast<sinks*>(user)->receipt, text); }

    static void deliver(const text_sink& sink, const char* text) noexcept {
        try {
            if (sink) sink(text == nullptr ? std::string_view() : std::string_view(text));
        } catch (...) {
        }
    }
};

}  // namespace detail

class session {
public:
    session() noexcept = default;
    session(session&& other) noexcept = default;
    session& operator=(session&& other) noexcept {
        if (this != &other) {
            close();
            handle_ = std::move(other.handle_);
            keep_alive_ = std::move(other.keep_alive_);
        }
        return *this;
    }
    ~session() { close(); }

    void close() noexcept {
        handle_.reset();
        keep_alive_.reset();
    }
    bool mfa() const {
        bool mfa = false;
        detail::check(cust_session_mfa(handle_.get(), &mfa));
        return mfa;
    }
    std::string last_error() const {
        return detail::text_out([&](char* buf, std::size_t len, std::size_t* needed) {
            return cust_session_last_error(handle_.get(), buf, len, needed);
        });
    }

    customer create(const input& values) const {
        cust_customer* out = nullptr;
        detail::check(cust_customer_create(handle_.get(), values.native_handle(), &out));
        return customer(out);
    }
    /// Creates a customer with a duplicate check (`"allow"`, `"warn"`, `"refuse"`);
    /// `duplicates_json`, if given, receives the pairs found as JSON.
    customer create_checked(const input& values, std::string_view check,
                            std::string* duplicates_json = nullptr) const {
        detail::text c(check, "check");
        cust_customer* out = nullptr;
        char* pairs = nullptr;
        detail::check(cust_customer_create_checked(handle_.get(), values.native_handle(), c.c_str(), &pairs, &out));
        std::string text = detail::take_string(pairs);
        if (duplicates_json != nullptr) *duplicates_json = std::move(text);
        return customer(out);
    }
    /// The data-quality counts by category, as JSON (see `cust_data_quality_json`).
    std::string data_quality_json() const {
        char* out = nullptr;
        detail::check(cust_data_quality_json(handle_.get(), &out));
        return detail::take_string(out);
    }
    /// Possible duplicates across the store, as JSON (see `cust_duplicates_json`).
    std::string duplicates_json(uint32_t limit = 1000) const {
        char* out = nullptr;
        detail::check(cust_duplicates_json(handle_.get(), limit, &out));
        return detail::take_string(out);
    }
    /// Counts customers along one dimension or a cross-tab of two, small counts
    /// suppressed, as JSON. `query_json`: `{"rows": "category", "columns": "tier", "filter":
    /// {"category": "零售"}, "threshold": 5}` (`columns`, `filter`, `threshold` optional); the
    /// table: `{"rows", "columns", "threshold", "row_labels", "column_labels", "cells",
    /// "row_totals", "column_totals", "total", "suppressed_primary", "suppressed_secondary"}`, a
    /// suppressed count `null` (see `cust_statistics`).
    std::string statistics(std::string_view query_json) const {
        detail::text q(query_json, "query_json");
        char* out = nullptr;
        detail::check(cust_statistics(handle_.get(), q.c_str(), &out));
        return detail::take_string(out);
    }
    /// Purchase totals by one classification dimension, small rows suppressed, as JSON.
    /// `query_json`: `{"rows": "tier", "currency": "CNY", "threshold": 5}` (see `cust_purchase_totals`).
    std::string purchase_totals(std::string_view query_json) const {
        detail::text q(query_json, "query_json");
        char* out = nullptr;
        detail::check(cust_purchase_totals(handle_.get(), q.c_str(), &out));
        return detail::take_string(out);
    }
    /// Merges customer `merged` into `survivor` (both at the versions last read) and returns the
    /// survivor. `options_json`: `{"reference": "ticket-1", "take": {"mobile": "merged"},
    /// "carry_holds": false}`; `report_json`, if given, receives what moved (see
    /// `cust_customer_merge`).
    customer merge(int64_t survivor, uint64_t survivor_version, int64_t merged, uint64_t merged_version,
                   std::string_view options_json, std::string* report_json = nullptr) const {
        detail::text o(options_json, "options_json");
        cust_customer* out = nullptr;
        char* report = nullptr;
        detail::check(cust_customer_merge(handle_.get(), survivor, survivor_version, merged, merged_version,
                                          o.c_str(), report_json != nullptr ? &report : nullptr, &out));
        customer kept(out);
        std::string text = detail::take_string(report);
        if (report_json != nullptr) *report_json = std::move(text);
        return kept;
    }
    customer create_json(std::string_view json) const {
        detail::text j(json, "json");
        cust_customer* out = nullptr;
        detail::check(cust_customer_create_json(handle_.get(), j.c_str(), &out));
        return customer(out);
    }
    customer get(int64_t id) const {
        cust_customer* out = nullptr;
        detail::check(cust_customer_get(handle_.get(), id, &out));
        return customer(out);
    }
    customer get_by_code(std::string_view code) const {
        detail::text c(code, "code");
        cust_customer* out = nullptr;
        detail::check(cust_customer_get_by_code(handle_.get(), c.c_str(), &out));
        return customer(out);
    }
    customer update(int64_t id, uint64_t expected_version, const input& patch) const {
        cust_customer* out = nullptr;
        detail::check(cust_customer_update(handle_.get(), id, expected_version, patch.native_handle(), &out));
        return customer(out);
    }
    void remove(int64_t id) const { detail::check(cust_customer_delete(handle_.get(), id)); }
    void verify(int64_t id, uint64_t expected_version) const {
        detail::check(cust_customer_verify(handle_.get(), id, expected_version));
    }
    /// Exact lookup through a blind index: `CUST_FIELD_MOBILE`, `_EMAIL`, `_ID_NUMBER` or `_CREDIT_CODE`
    /// (a unified social credit code in any case, with spaces), in any accepted format.
    customer_list find(cust_field field, std::string_view value) const {
        detail::text v(value, "value");
        cust_list* out = nullptr;
        detail::check(cust_customer_find(handle_.get(), field, v.c_str(), &out));
        return customer_list(out);
    }
    customer_list list(cust_field sort, bool descending = false, uint64_t offset = 0, uint32_t limit = 100) const {
        cust_list* out = nullptr;
        detail::check(cust_customer_list(handle_.get(), sort, descending, offset, limit, &out));
        return customer_list(out);
    }
    customer_list list_filtered(cust_field sort, bool descending, uint64_t offset, uint32_t limit,
                                const list_filter& filter) const {
        detail::optional_text kind(filter.kind, "kind"), category(filter.category, "category"),
            tier(filter.tier, "tier"), source(filter.source, "source");
        cust_list* out = nullptr;
        detail::check(cust_customer_list_filtered(handle_.get(), sort, descending, offset, limit, kind.c_str(),
                                                  category.c_str(), tier.c_str(), source.c_str(), &out));
        return customer_list(out);
    }
    customer_list search(std::string_view keyword, uint64_t offset = 0, uint32_t limit = 100) const {
        detail::text k(keyword, "keyword");
        cust_list* out = nullptr;
        detail::check(cust_customer_search(handle_.get(), k.c_str(), offset, limit, &out));
        return customer_list(out);
    }

    void register_principal(std::string_view id, std::string_view display_name, bool system = false) const {
        detail::text i(id, "id"), d(display_name, "display_name");
        detail::check(cust_principal_register(handle_.get(), i.c_str(), d.c_str(), system));
    }
    void grant(std::string_view id, std::string_view role, int64_t expires_at_ms = 0) const {
        detail::text i(id, "id"), r(role, "role");
        detail::check(cust_principal_grant(handle_.get(), i.c_str(), r.c_str(), expires_at_ms));
    }
    void revoke_role(std::string_view id, std::string_view role) const {
        detail::text i(id, "id"), r(role, "role");
        detail::check(cust_principal_revoke_role(handle_.get(), i.c_str(), r.c_str()));
    }
    void revoke_principal(std::string_view id, std::string_view reason) const {
        detail::text i(id, "id"), r(reason, "reason");
        detail::check(cust_principal_revoke(handle_.get(), i.c_str(), r.c_str()));
    }
    void set_password(std::string_view id, std::string_view password) const {
        detail::text i(id, "id"), p(password, "password");
        detail::check(cust_principal_set_password(handle_.get(), i.c_str(), p.c_str()));
    }
    secret_bytes enrol_totp(std::string_view id) const {
        detail::text i(id, "id");
        uint8_t* secret = nullptr;
        std::size_t len = 0;
        detail::check(cust_principal_enrol_totp(handle_.get(), i.c_str(), &secret, &len));
        struct release {
            uint8_t* p;
            std::size_t len;
            ~release() { cust_bytes_free(p, len); }
        } guard{secret, len};
        return secret_bytes(secret, len);
    }
    void unlock(std::string_view id) const {
        detail::text i(id, "id");
        detail::check(cust_principal_unlock(handle_.get(), i.c_str()));
    }
    void define_role_json(std::string_view json) const {
        detail::text j(json, "json");
        detail::check(cust_role_define_json(handle_.get(), j.c_str()));
    }
    std::string access_review_json(uint32_t stale_after_days) const {
        char* out = nullptr;
        detail::check(cust_access_review_json(handle_.get(), stale_after_days, &out));
        return detail::take_string(out);
    }

    void record_consent(int64_t customer, std::string_view purpose, std::string_view channel, bool granted,
                        std::string_view source, std::string_view policy_version) const {
        detail::text p(purpose, "purpose"), c(channel, "channel"), s(source, "source"),
            v(policy_version, "policy_version");
        detail::check(cust_consent_record(handle_.get(), customer, p.c_str(), c.c_str(), granted, s.c_str(), v.c_str()));
    }
    std::string consents_json(int64_t customer) const {
        char* out = nullptr;
        detail::check(cust_consent_list_json(handle_.get(), customer, &out));
        return detail::take_string(out);
    }
    std::string audit_query_json(int64_t customer = 0, std::optional<std::string_view> principal = std::nullopt,
                                 int64_t from_ms = 0, int64_t to_ms = 0, uint32_t limit = 0) const {
        detail::optional_text p(principal, "principal");
        char* out = nullptr;
        detail::check(cust_audit_query_json(handle_.get(), customer, p.c_str(), from_ms, to_ms, limit, &out));
        return detail::take_string(out);
    }

    template <typename Call>
    static import_report run_csv_import(const std::function<void(uint64_t, uint64_t)>& progress, Call call) {
        struct state {
            const std::function<void(uint64_t, uint64_t)>* progress;
        } st{&progress};
        cust_progress_sink sink = nullptr;
        if (progress) {
            sink = [](void* user, uint64_t rows, uint64_t bytes) {
                try {
                    (*static_cast<state*>(user)->progress)(rows, bytes);
                } catch (...) {
                    // A callback must not throw through C; its exception is dropped.
                }
            };
        }
        cust_import_report* out = nullptr;
        detail::check(call(sink, &st, &out));
        return import_report(out);
    }
    /// Imports CSV text (see `cust_import_csv_file`); `progress(rows, bytes)` may be empty. With
    /// `problems_only` it goes through `cust_import_csv_with`.
    import_report import_csv(std::string_view data, const csv_import_options& options = {}) const {
        if (options.problems_only) return import_csv_with(data, detail::import_options_json(options), options.progress);
        detail::optional_text enc(options.encoding, "encoding");
        return run_csv_import(options.progress, [&](cust_progress_sink sink, void* user, cust_import_report** out) {
            return cust_import_csv(handle_.get(), reinterpret_cast<const uint8_t*>(data.data()), data.size(),
                                   enc.c_str(), options.reject_invalid, options.update_existing, sink, user, out);
        });
    }
    /// Imports the CSV file at `path`, streamed.
    import_report import_csv_file(std::string_view path, const csv_import_options& options = {}) const {
        if (options.problems_only) {
            return import_csv_file_with(path, detail::import_options_json(options), options.progress);
        }
        detail::text p(path, "path");
        detail::optional_text enc(options.encoding, "encoding");
        return run_csv_import(options.progress, [&](cust_progress_sink sink, void* user, cust_import_report** out) {
            return cust_import_csv_file(handle_.get(), p.c_str(), enc.c_str(), options.reject_invalid,
                                        options.update_existing, sink, user, out);
        });
    }
    /// Imports CSV text with its options as JSON (see `cust_import_csv_with`): std::nullopt for the
    /// defaults, or e.g. `{"encoding": "gbk", "problems_only": true}`; an unknown key throws
    /// CUST_STATUS_INVALID.
    import_report import_csv_with(std::string_view data, std::optional<std::string_view> options_json,
                                  const std::function<void(uint64_t rows, uint64_t bytes)>& progress = {}) const {
        detail::optional_text o(options_json, "options_json");
        return run_csv_import(progress, [&](cust_progress_sink sink, void* user, cust_import_report** out) {
            return cust_import_csv_with(handle_.get(), reinterpret_cast<const uint8_t*>(data.data()), data.size(),
                                        o.c_str(), sink, user, out);
        });
    }
    /// Imports the CSV file at `path`, streamed, with its options as JSON (see `import_csv_with`).
    import_report import_csv_file_with(std::string_view path, std::optional<std::string_view> options_json,
                                       const std::function<void(uint64_t rows, uint64_t bytes)>& progress = {}) const {
        detail::text p(path, "path");
        detail::optional_text o(options_json, "options_json");
        return run_csv_import(progress, [&](cust_progress_sink sink, void* user, cust_import_report** out) {
            return cust_import_csv_file_with(handle_.get(), p.c_str(), o.c_str(), sink, user, out);
        });
    }
    /// The customers this session may see as CSV bytes (see `cust_export_csv`).
    std::string export_csv(const csv_export_options& options = {}, uint64_t* rows = nullptr) const {
        detail::optional_text c(options.columns, "columns"), e(options.encoding, "encoding"), k(options.kind, "kind"),
            g(options.category, "category"), t(options.tier, "tier"), s(options.source, "source");
        uint8_t* out = nullptr;
        std::size_t len = 0;
        detail::check(cust_export_csv(handle_.get(), c.c_str(), e.c_str(), options.chinese_headers, k.c_str(),
                                      g.c_str(), t.c_str(), s.c_str(), rows, &out, &len));
        struct release {
            uint8_t* p;
            std::size_t len;
            ~release() { cust_bytes_free(p, len); }
        } guard{out, len};
        return std::string(reinterpret_cast<const char*>(out), len);
    }
    /// Writes that CSV into the new file `path`; returns the rows written.
    uint64_t export_csv_file(std::string_view path, const csv_export_options& options = {}) const {
        detail::text p(path, "path");
        detail::optional_text c(options.columns, "columns"), e(options.encoding, "encoding"), k(options.kind, "kind"),
            g(options.category, "category"), t(options.tier, "tier"), s(options.source, "source");
        uint64_t rows = 0;
        detail::check(cust_export_csv_file(handle_.get(), p.c_str(), c.c_str(), e.c_str(), options.chinese_headers,
                                           k.c_str(), g.c_str(), t.c_str(), s.c_str(), &rows));
        return rows;
    }
    import_report import_khzl(const uint8_t* bytes, std::size_t len) const {
        cust_import_report* out = nullptr;
        detail::check(cust_import_khzl(handle_.get(), bytes, len, &out));
        return import_report(out);
    }
    import_report import_khzl(const std::vector<uint8_t>& bytes) const { return import_khzl(bytes.data(), bytes.size()); }
    import_report import_khzl_update(const uint8_t* bytes, std::size_t len) const {
        cust_import_report* out = nullptr;
        detail::check(cust_import_khzl_update(handle_.get(), bytes, len, &out));
        return import_report(out);
    }
    import_report import_khzl_update(const std::vector<uint8_t>& bytes) const {
        return import_khzl_update(bytes.data(), bytes.size());
    }

    std::string export_json(int64_t id) const {
        char* out = nullptr;
        detail::check(cust_customer_export_json(handle_.get(), id, &out));
        return detail::take_string(out);
    }
    customer rectify(int64_t id, uint64_t expected_version, const input& patch, std::string_view request) const {
        detail::text r(request, "request");
        cust_customer* out = nullptr;
        detail::check(cust_customer_rectify(handle_.get(), id, expected_version, patch.native_handle(), r.c_str(), &out));
        return customer(out);
    }
    void restrict_processing(int64_t id, std::string_view reason) const {
        detail::text r(reason, "reason");
        detail::check(cust_customer_restrict(handle_.get(), id, r.c_str()));
    }
    void lift_restriction(int64_t id) const { detail::check(cust_customer_lift_restriction(handle_.get(), id)); }
    void place_hold(int64_t id, std::string_view reason) const {
        detail::text r(reason, "reason");
        detail::check(cust_customer_place_hold(handle_.get(), id, r.c_str()));
    }
    void lift_hold(int64_t id) const { detail::check(cust_customer_lift_hold(handle_.get(), id)); }
    void erase(int64_t id, std::string_view reason) const {
        detail::text r(reason, "reason");
        detail::check(cust_customer_erase(handle_.get(), id, r.c_str()));
    }
    void define_retention_json(std::string_view json) const {
        detail::text j(json, "json");
        detail::check(cust_retention_define_json(handle_.get(), j.c_str()));
    }
    std::string retention_sweep_json() const {
        char* out = nullptr;
        detail::check(cust_retention_sweep_json(handle_.get(), &out));
        return detail::take_string(out);
    }

    record add_transaction(int64_t customer, const transaction_input& input) const {
        cust_record* out = nullptr;
        detail::check(cust_transaction_add(handle_.get(), customer, input.native_handle(), &out));
        return record(out);
    }
    /// Records `inputs` for `customer` in one call, all or none; the ids in input order.
    std::vector<uint64_t> add_transactions(int64_t customer, const std::vector<const transaction_input*>& inputs) const {
        std::vector<const cust_transaction_input*> handles;
        handles.reserve(inputs.size());
        for (const transaction_input* input : inputs) {
            handles.push_back(input == nullptr ? nullptr : input->native_handle());
        }
        std::vector<uint64_t> ids(inputs.size());
        detail::check(cust_transaction_add_many(handle_.get(), customer, handles.data(), handles.size(), ids.data()));
        return ids;
    }
    record set_transaction_status(uint64_t id, uint64_t expected_version, std::string_view status) const {
        detail::text s(status, "status");
        cust_record* out = nullptr;
        detail::check(cust_transaction_set_status(handle_.get(), id, expected_version, s.c_str(), &out));
        return record(out);
    }
    record open_service(int64_t customer, const service_input& input) const {
        cust_record* out = nullptr;
        detail::check(cust_service_open(handle_.get(), customer, input.native_handle(), &out));
        return record(out);
    }
    record assign_service(uint64_t id, uint64_t expected_version, std::string_view owner) const {
        detail::text o(owner, "owner");
        cust_record* out = nullptr;
        detail::check(cust_service_assign(handle_.get(), id, expected_version, o.c_str(), &out));
        return record(out);
    }
    record transition_service(uint64_t id, uint64_t expected_version, std::string_view to,
                              std::optional<std::string_view> resolution = std::nullopt) const {
        detail::text t(to, "to");
        detail::optional_text r(resolution, "resolution");
        cust_record* out = nullptr;
        detail::check(cust_service_transition(handle_.get(), id, expected_version, t.c_str(), r.c_str(), &out));
        return record(out);
    }
    /* patch_json: {"service.priority": "high", "service.description": null} */
    record update_record_json(uint64_t id, uint64_t expected_version, std::string_view patch_json) const {
        detail::text j(patch_json, "patch_json");
        cust_record* out = nullptr;
        detail::check(cust_record_update_json(handle_.get(), id, expected_version, j.c_str(), &out));
        return record(out);
    }
    record rectify_record_json(uint64_t id, uint64_t expected_version, std::string_view patch_json,
                               std::string_view request) const {
        detail::text j(patch_json, "patch_json"), r(request, "request");
        cust_record* out = nullptr;
        detail::check(cust_record_rectify_json(handle_.get(), id, expected_version, j.c_str(), r.c_str(), &out));
        return record(out);
    }
    void delete_record(uint64_t id) const { detail::check(cust_record_delete(handle_.get(), id)); }
    record get_record(uint64_t id) const {
        cust_record* out = nullptr;
        detail::check(cust_record_get(handle_.get(), id, &out));
        return record(out);
    }
    /* A page of the customer's timeline, newest first; before: next() of the previous page, or 0. */
    record_list timeline(int64_t customer, uint32_t limit = 50, uint64_t before = 0) const {
        cust_record_list* out = nullptr;
        detail::check(cust_customer_timeline(handle_.get(), customer, limit, before, &out));
        return record_list(out);
    }
    /* within_hours 0: overdue records; otherwise those due within that many hours. */
    record_list service_due(uint32_t within_hours = 0, std::optional<std::string_view> owner = std::nullopt,
                            uint32_t limit = 100, uint64_t after = 0) const {
        detail::optional_text o(owner, "owner");
        cust_record_list* out = nullptr;
        detail::check(cust_service_due(handle_.get(), within_hours, o.c_str(), limit, after, &out));
        return record_list(out);
    }

    /* Sharing with third parties (see the C functions for the JSON forms). */
    /// Registers a recipient: `{"id", "name", "agreement", "agreement_from", "agreement_until",
    /// "public_key"}` (the key as 64 hex digits: `to_hex(keys.public_key)`); returns it as stored.
    std::string register_recipient(std::string_view recipient_json) const {
        detail::text j(recipient_json, "recipient_json");
        char* out = nullptr;
        detail::check(cust_recipient_register(handle_.get(), j.c_str(), &out));
        return detail::take_string(out);
    }
    /// Revokes recipient `id` (every share to it ends); returns it with its `revoked`.
    std::string revoke_recipient(std::string_view id, std::string_view reason) const {
        detail::text i(id, "id"), r(reason, "reason");
        char* out = nullptr;
        detail::check(cust_recipient_revoke(handle_.get(), i.c_str(), r.c_str(), &out));
        return detail::take_string(out);
    }
    /// Every registered recipient, revoked ones included, as a JSON array.
    std::string recipients_json() const {
        char* out = nullptr;
        detail::check(cust_recipients_json(handle_.get(), &out));
        return detail::take_string(out);
    }
    /// Grants a share (`{"recipient", "purpose", "fields": [...], "customers": [ids] | "filter":
    /// {...}, "expires_at", "agreement"}`) and returns its id, for `store::open_share_session`;
    /// `share_json`, if given, receives the share as stored.
    uint64_t create_share(std::string_view share_json, std::string* share_json_out = nullptr) const {
        detail::text j(share_json, "share_json");
        uint64_t id = 0;
        char* out = nullptr;
        detail::check(cust_share_create(handle_.get(), j.c_str(), &id, share_json_out != nullptr ? &out : nullptr));
        std::string text = detail::take_string(out);
        if (share_json_out != nullptr) *share_json_out = std::move(text);
        return id;
    }
    /// Revokes share `share`; returns it with its `revoked`.
    std::string revoke_share(uint64_t share, std::string_view reason) const {
        detail::text r(reason, "reason");
        char* out = nullptr;
        detail::check(cust_share_revoke(handle_.get(), share, r.c_str(), &out));
        return detail::take_string(out);
    }
    /// Every share granted, revoked and expired ones included, as a JSON array.
    std::string shares_json() const {
        char* out = nullptr;
        detail::check(cust_shares_json(handle_.get(), &out));
        return detail::take_string(out);
    }
    /// Every share the customer is or was in, with every disclosure through it, as JSON.
    std::string customer_shares_json(int64_t customer) const {
        char* out = nullptr;
        detail::check(cust_customer_shares_json(handle_.get(), customer, &out));
        return detail::take_string(out);
    }

    const cust_session* native_handle() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_.get() != nullptr; }

private:
    friend class store;
    session(cust_session* owned, std::shared_ptr<const void> keep_alive) noexcept
        : keep_alive_(std::move(keep_alive)), handle_(owned) {}

    std::shared_ptr<const void> keep_alive_;
    detail::owned<cust_session, &cust_session_close> handle_;
};

/// One page of the customers inside a share: `next` is the `after` of the next page, 0 on the last.
struct share_page {
    customer_list customers;
    int64_t next = 0;
};

/// A recipient's session on one share (`store::open_share_session`): it reads the granted fields
/// of the customers inside the share and nothing else. Move-only; it keeps the store (and its
/// sinks) alive.
class share_session {
public:
    share_session() noexcept = default;
    share_session(share_session&& other) noexcept = default;
    share_session& operator=(share_session&& other) noexcept {
        if (this != &other) {
            close();
            handle_ = std::move(other.handle_);
            keep_alive_ = std::move(other.keep_alive_);
            share_ = std::exchange(other.share_, 0);
        }
        return *this;
    }
    ~share_session() { close(); }

    void close() noexcept {
        handle_.reset();
        keep_alive_.reset();
    }
    /// The share's id (0 when empty).
    uint64_t share_id() const noexcept { return handle_.get() != nullptr ? share_ : 0; }
    /// The recipient's id.
    std::string recipient() const {
        return detail::text_out([&](char* buf, std::size_t len, std::size_t* needed) {
            return cust_share_session_recipient(handle_.get(), buf, len, needed);
        });
    }
    std::string last_error() const {
        return detail::text_out([&](char* buf, std::size_t len, std::size_t* needed) {
            return cust_share_session_last_error(handle_.get(), buf, len, needed);
        });
    }
    /// Customer `id` with the granted fields only; CUST_STATUS_NOT_FOUND if it is not inside.
    customer get(int64_t id) const {
        cust_customer* out = nullptr;
        detail::check(cust_share_get(handle_.get(), id, &out));
        return customer(out);
    }
    /// Up to `limit` (1 to 1000) customers inside the share with ids above `after` (0: from the first).
    share_page customers(int64_t after = 0, uint32_t limit = 100) const {
        cust_list* out = nullptr;
        int64_t next = 0;
        detail::check(cust_share_customers(handle_.get(), after, limit, &next, &out));
        share_page page;
        page.customers = customer_list(out);
        page.next = next;
        return page;
    }
    /// Every customer inside the share, sealed to the recipient's key: the package's bytes.
    std::vector<uint8_t> package() const {
        uint8_t* out = nullptr;
        std::size_t len = 0;
        detail::check(cust_share_package(handle_.get(), &out, &len));
        struct release {
            uint8_t* p;
            std::size_t len;
            ~release() { cust_bytes_free(p, len); }
        } guard{out, len};
        return std::vector<uint8_t>(out, out + len);
    }
    const cust_share_session* native_handle() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_.get() != nullptr; }

private:
    friend class store;
    share_session(cust_share_session* owned, uint64_t share, std::shared_ptr<const void> keep_alive) noexcept
        : keep_alive_(std::move(keep_alive)), handle_(owned), share_(share) {}

    std::shared_ptr<const void> keep_alive_;
    detail::owned<cust_share_session, &cust_share_session_close> handle_;
    uint64_t share_ = 0;
};

class store {
public:
    store() noexcept = default;
    store(store&& other) noexcept = default;
    store& operator=(store&& other) noexcept {
        if (this != &other) {
            close();
            handle_ = std::move(other.handle_);
            sinks_ = std::move(other.sinks_);
        }
        return *this;
    }
    ~store() { close(); }

    static store create(std::string_view dir, key_view key) {
        detail::text d(dir, "dir");
        cust_store* out = nullptr;
        detail::check(cust_store_create(d.c_str(), key.data(), key.size(), &out));
        return store(out);
    }
    static store create(std::string_view dir, const passphrase& pass, uint32_t kdf_iterations = 0) {
        detail::text d(dir, "dir"), p(pass.text(), "passphrase");
        cust_store* out = nullptr;
        detail::check(cust_store_create_passphrase(d.c_str(), p.c_str(), kdf_iterations, &out));
        return store(out);
    }
    /// Creates a store with catalogue settings, e.g.
    /// `{"search": {"fields": ["name", "notes"], "index": true, "token_bits": 20}}`
    /// (see `cust_store_create_with`).
    static store create_with(std::string_view dir, key_view key, std::string_view catalogue_json) {
        detail::text d(dir, "dir"), c(catalogue_json, "catalogue_json");
        cust_store* out = nullptr;
        detail::check(cust_store_create_with(d.c_str(), key.data(), key.size(), c.c_str(), &out));
        return store(out);
    }
    static store create_with(std::string_view dir, const passphrase& pass, std::string_view catalogue_json,
                             uint32_t kdf_iterations = 0) {
        detail::text d(dir, "dir"), p(pass.text(), "passphrase"), c(catalogue_json, "catalogue_json");
        cust_store* out = nullptr;
        detail::check(cust_store_create_passphrase_with(d.c_str(), p.c_str(), kdf_iterations, c.c_str(), &out));
        return store(out);
    }
    static store open(std::string_view dir, key_view key) {
        detail::text d(dir, "dir");
        cust_store* out = nullptr;
        detail::check(cust_store_open(d.c_str(), key.data(), key.size(), &out));
        return store(out);
    }
    static store open(std::string_view dir, const passphrase& pass) {
        detail::text d(dir, "dir"), p(pass.text(), "passphrase");
        cust_store* out = nullptr;
        detail::check(cust_store_open_passphrase(d.c_str(), p.c_str(), &out));
        return store(out);
    }

    /// Creates a store on a PostgreSQL server: customer data in the database of
    /// `data_url`, keys in the database of `key_store_url`, tables in `schema`
    /// (created if missing; none for the connections' default). Throws
    /// error (CUST_STATUS_INVALID_ARGUMENT, rule feature.postgres) if the library has no PostgreSQL backend.
    static store create_url(std::string_view data_url, std::string_view key_store_url, key_view key,
                            std::optional<std::string_view> schema = std::nullopt) {
        detail::text d(data_url, "data_url"), k(key_store_url, "key_store_url");
        detail::optional_text s(schema, "schema");
        cust_store* out = nullptr;
        detail::check(cust_store_create_url(d.c_str(), k.c_str(), s.c_str(), key.data(), key.size(), &out));
        return store(out);
    }
    /// Opens the store on a PostgreSQL server (arguments as for create_url).
    static store open_url(std::string_view data_url, std::string_view key_store_url, key_view key,
                          std::optional<std::string_view> schema = std::nullopt) {
        detail::text d(data_url, "data_url"), k(key_store_url, "key_store_url");
        detail::optional_text s(schema, "schema");
        cust_store* out = nullptr;
        detail::check(cust_store_open_url(d.c_str(), k.c_str(), s.c_str(), key.data(), key.size(), &out));
        return store(out);
    }

    /// Like create_url, with a master key derived from a passphrase.
    static store create_url(std::string_view data_url, std::string_view key_store_url, const passphrase& pass,
                            std::optional<std::string_view> schema = std::nullopt, uint32_t kdf_iterations = 0) {
        detail::text d(data_url, "data_url"), k(key_store_url, "key_store_url"), p(pass.text(), "passphrase");
        detail::optional_text s(schema, "schema");
        cust_store* out = nullptr;
        detail::check(
            cust_store_create_url_passphrase(d.c_str(), k.c_str(), s.c_str(), p.c_str(), kdf_iterations, &out));
        return store(out);
    }
    /// Like open_url, with the store's passphrase.
    static store open_url(std::string_view data_url, std::string_view key_store_url, const passphrase& pass,
                          std::optional<std::string_view> schema = std::nullopt) {
        detail::text d(data_url, "data_url"), k(key_store_url, "key_store_url"), p(pass.text(), "passphrase");
        detail::optional_text s(schema, "schema");
        cust_store* out = nullptr;
        detail::check(cust_store_open_url_passphrase(d.c_str(), k.c_str(), s.c_str(), p.c_str(), &out));
        return store(out);
    }

    void close() noexcept {
        handle_.reset();
        sinks_.reset();
    }
    void set_login_policy(uint32_t max_failures, uint64_t lockout_secs, uint32_t password_iterations = 0) {
        detail::check(cust_store_set_login_policy(handle_.get(), max_failures, lockout_secs, password_iterations));
    }
    /// Hours before service records of `kind` at `priority` fall due (before any session).
    void set_service_hours(std::string_view kind, std::string_view priority, uint32_t hours) {
        detail::text k(kind, "kind");
        detail::text p(priority, "priority");
        detail::check(cust_store_set_service_hours(handle_.get(), k.c_str(), p.c_str(), hours));
    }
    /// Requires that customers be verified by another principal than the one who entered them.
    void set_four_eyes(bool required) { detail::check(cust_store_set_four_eyes(handle_.get(), required)); }
    /// Days after closing a service record may be reopened (0: never; before any session).
    void set_reopen_days(uint32_t days) { detail::check(cust_store_set_reopen_days(handle_.get(), days)); }
    void set_checkpoints(uint64_t every_entries, uint64_t every_secs, text_sink on_checkpoint = {},
                         text_sink on_receipt = {}) {
        auto sinks = std::make_shared<detail::sinks>();
        sinks->checkpoint = std::move(on_checkpoint);
        sinks->receipt = std::move(on_receipt);
        bool any = sinks->checkpoint || sinks->receipt;
        detail::check(cust_store_set_checkpoints(handle_.get(), every_entries, every_secs,
                                                 sinks->checkpoint ? &detail::sinks::on_checkpoint : nullptr,
                                                 sinks->receipt ? &detail::sinks::on_receipt : nullptr,
                                                 any ? sinks.get() : nullptr));
        sinks_ = any ? std::move(sinks) : nullptr;
    }
    void bootstrap_admin(std::string_view id, std::string_view display_name) const {
        detail::text i(id, "id"), d(display_name, "display_name");
        detail::check(cust_store_bootstrap_admin(handle_.get(), i.c_str(), d.c_str()));
    }
    uint64_t verify_audit(std::optional<std::string_view> trusted_checkpoint = std::nullopt) const {
        detail::optional_text t(trusted_checkpoint, "trusted_checkpoint");
        uint64_t entries = 0;
        detail::check(cust_store_verify_audit(handle_.get(), t.c_str(), &entries));
        return entries;
    }
    /// The search settings as JSON: `{"fields": [...], "index": true, "token_bits": 20}`.
    std::string search_settings() const {
        char* out = nullptr;
        detail::check(cust_store_search_settings(handle_.get(), &out));
        return detail::take_string(out);
    }
    /// Re-derives the keyword index; returns how many customers hold tokens.
    uint64_t rebuild_search_index() const {
        uint64_t indexed = 0;
        detail::check(cust_store_rebuild_search_index(handle_.get(), &indexed));
        return indexed;
    }
    /// Empties the write-ahead logs now (see cust_store_purge_logs); throws
    /// while other connections' readers still hold them.
    void purge_logs() const { detail::check(cust_store_purge_logs(handle_.get())); }
    /// Whether a committed destruction's purge of the logs is still owed.
    bool purge_owed() const {
        bool owed = false;
        detail::check(cust_store_purge_owed(handle_.get(), &owed));
        return owed;
    }
    std::string checkpoint() const {
        char* out = nullptr;
        detail::check(cust_store_checkpoint(handle_.get(), &out));
        return detail::take_string(out);
    }
    std::string last_error() const {
        return detail::text_out([&](char* buf, std::size_t len, std::size_t* needed) {
            return cust_store_last_error(handle_.get(), buf, len, needed);
        });
    }

    session open_session(std::string_view principal, std::string_view purpose, bool mfa = false,
                         int64_t authenticated_at_ms = 0) const {
        detail::text p(principal, "principal"), u(purpose, "purpose");
        cust_session* out = nullptr;
        detail::check(cust_session_open(handle_.get(), p.c_str(), u.c_str(), mfa, authenticated_at_ms, &out));
        return session(out, sinks_);
    }
    session open_marketing_session(std::string_view principal, std::string_view channel, bool mfa = false,
                                   int64_t authenticated_at_ms = 0) const {
        detail::text p(principal, "principal"), c(channel, "channel");
        cust_session* out = nullptr;
        detail::check(
            cust_session_open_marketing(handle_.get(), p.c_str(), c.c_str(), mfa, authenticated_at_ms, &out));
        return session(out, sinks_);
    }
    session login(std::string_view principal, std::string_view password, std::string_view purpose,
                  std::optional<std::string_view> code = std::nullopt) const {
        detail::text p(principal, "principal"), w(password, "password"), u(purpose, "purpose");
        detail::optional_text c(code, "code");
        cust_session* out = nullptr;
        detail::check(cust_session_login(handle_.get(), p.c_str(), w.c_str(), c.c_str(), u.c_str(), &out));
        return session(out, sinks_);
    }

    /// Opens the recipient's session on share `share` (CUST_STATUS_SHARE_NOT_FOUND, or
    /// CUST_STATUS_DENIED when the share, its recipient or the agreement is not in effect).
    share_session open_share_session(uint64_t share) const {
        cust_share_session* out = nullptr;
        detail::check(cust_share_session_open(handle_.get(), share, &out));
        return share_session(out, share, sinks_);
    }

    std::string backup(std::string_view path) const {
        detail::text p(path, "path");
        char* manifest = nullptr;
        detail::check(cust_store_backup(handle_.get(), p.c_str(), &manifest));
        return detail::take_string(manifest);
    }
    std::string backup_increment(std::string_view path, std::string_view parent) const {
        detail::text p(path, "path"), q(parent, "parent");
        char* manifest = nullptr;
        detail::check(cust_store_backup_increment(handle_.get(), p.c_str(), q.c_str(), &manifest));
        return detail::take_string(manifest);
    }
    void rotate_key(key_view new_key) {
        detail::check(cust_store_rotate_key(handle_.get(), new_key.data(), new_key.size()));
    }
    void rotate_key(const passphrase& pass, uint32_t kdf_iterations = 0) {
        detail::text p(pass.text(), "passphrase");
        detail::check(cust_store_rotate_key_passphrase(handle_.get(), p.c_str(), kdf_iterations));
    }

    const cust_store* native_handle() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_.get() != nullptr; }

private:
    explicit store(cust_store* owned) noexcept : handle_(owned) {}

    std::shared_ptr<detail::sinks> sinks_;
    detail::owned<cust_store, &cust_store_close> handle_;
};

/* Share packages and recipient keys: what the recipient runs, without a store. */

/// A recipient's X25519 key pair: the secret (kept by the recipient only; wiped when destroyed)
/// and the public key to register with the sender.
struct recipient_keys {
    secret_bytes secret;
    std::array<uint8_t, 32> public_key{};
};

/// A new key pair from the operating system's random number generator.
inline recipient_keys generate_recipient_keys() {
    std::array<uint8_t, 32> secret{};
    recipient_keys keys;
    const cust_status status = cust_recipient_keypair(secret.data(), secret.size(), keys.public_key.data(),
                                                      keys.public_key.size());
    if (status == CUST_STATUS_OK) keys.secret = secret_bytes(secret.data(), secret.size());
    detail::wipe(secret.data(), secret.size());
    detail::check(status);
    return keys;
}

/// The public key of a recipient secret (32 bytes).
inline std::array<uint8_t, 32> recipient_public_key(key_view secret) {
    std::array<uint8_t, 32> out{};
    detail::check(cust_recipient_public_key(secret.data(), secret.size(), out.data(), out.size()));
    return out;
}

/// Bytes as lower-case hex digits (a public key for `session::register_recipient`).
inline std::string to_hex(key_view bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        out += digits[bytes.data()[i] >> 4];
        out += digits[bytes.data()[i] & 0xf];
    }
    return out;
}

/// Checks a share package without its key (format, manifest, SHA-256); returns the manifest
/// with its `sha256` as JSON. A truncated or altered package throws CUST_STATUS_PACKAGE_REJECTED.
inline std::string verify_package(const uint8_t* package, std::size_t len) {
    char* out = nullptr;
    detail::check(cust_package_verify(package, len, &out));
    return detail::take_string(out);
}
inline std::string verify_package(const std::vector<uint8_t>& package) {
    return verify_package(package.data(), package.size());
}

/// Opens a share package with the recipient's 32-byte secret; returns `{"manifest", "sha256",
/// "customers": [{"id", "fields", "withheld"}]}` as JSON. Another key, or a truncated or
/// altered package, throws CUST_STATUS_PACKAGE_REJECTED.
inline std::string open_package(const uint8_t* package, std::size_t len, key_view secret) {
    char* out = nullptr;
    detail::check(cust_package_open(package, len, secret.data(), secret.size(), &out));
    return detail::take_string(out);
}
inline std::string open_package(const std::vector<uint8_t>& package, key_view secret) {
    return open_package(package.data(), package.size(), secret);
}

inline std::string backup_manifest(std::string_view path) {
    detail::text p(path, "path");
    char* out = nullptr;
    detail::check(cust_backup_manifest_json(p.c_str(), &out));
    return detail::take_string(out);
}

inline uint64_t verify_backup(std::string_view path, key_view key) {
    detail::text p(path, "path");
    uint64_t customers = 0;
    detail::check(cust_backup_verify(p.c_str(), key.data(), key.size(), &customers));
    return customers;
}

inline uint64_t verify_backup(std::string_view path, const passphrase& pass) {
    detail::text p(path, "path"), w(pass.text(), "passphrase");
    uint64_t customers = 0;
    detail::check(cust_backup_verify_passphrase(p.c_str(), w.c_str(), &customers));
    return customers;
}

inline uint64_t verify_backup_chain(const std::vector<std::string>& chain, key_view key) {
    detail::text_array c(chain, "chain");
    uint64_t customers = 0;
    detail::check(cust_backup_verify_chain(c.data(), c.size(), key.data(), key.size(), &customers));
    return customers;
}

inline uint64_t verify_backup_chain(const std::vector<std::string>& chain, const passphrase& pass) {
    detail::text_array c(chain, "chain");
    detail::text w(pass.text(), "passphrase");
    uint64_t customers = 0;
    detail::check(cust_backup_verify_chain_passphrase(c.data(), c.size(), w.c_str(), &customers));
    return customers;
}

inline void extract_backup(const std::vector<std::string>& chain, key_view key, std::string_view out_dir) {
    detail::text_array c(chain, "chain");
    detail::text o(out_dir, "out_dir");
    detail::check(cust_backup_extract(c.data(), c.size(), key.data(), key.size(), o.c_str()));
}

inline void extract_backup(const std::vector<std::string>& chain, const passphrase& pass, std::string_view out_dir) {
    detail::text_array c(chain, "chain");
    detail::text w(pass.text(), "passphrase"), o(out_dir, "out_dir");
    detail::check(cust_backup_extract_passphrase(c.data(), c.size(), w.c_str(), o.c_str()));
}

inline std::string restore(std::string_view backup, std::string_view store_dir, key_view key) {
    detail::text b(backup, "backup"), d(store_dir, "store_dir");
    char* out = nullptr;
    detail::check(cust_store_restore(b.c_str(), d.c_str(), key.data(), key.size(), &out));
    return detail::take_string(out);
}

inline std::string restore(std::string_view backup, std::string_view store_dir, const passphrase& pass) {
    detail::text b(backup, "backup"), d(store_dir, "store_dir"), w(pass.text(), "passphrase");
    char* out = nullptr;
    detail::check(cust_store_restore_passphrase(b.c_str(), d.c_str(), w.c_str(), &out));
    return detail::take_string(out);
}

inline std::string restore_chain(const std::vector<std::string>& chain, std::string_view store_dir, key_view key) {
    detail::text_array c(chain, "chain");
    detail::text d(store_dir, "store_dir");
    char* out = nullptr;
    detail::check(cust_store_restore_chain(c.data(), c.size(), d.c_str(), key.data(), key.size(), &out));
    return detail::take_string(out);
}

inline std::string restore_chain(const std::vector<std::string>& chain, std::string_view store_dir,
                                 const passphrase& pass) {
    detail::text_array c(chain, "chain");
    detail::text d(store_dir, "store_dir"), w(pass.text(), "passphrase");
    char* out = nullptr;
    detail::check(cust_store_restore_chain_passphrase(c.data(), c.size(), d.c_str(), w.c_str(), &out));
    return detail::take_string(out);
}

inline std::string restore_rotated(std::string_view backup, std::string_view store_dir, key_view backup_key,
                                   key_view key) {
    detail::text b(backup, "backup"), d(store_dir, "store_dir");
    char* out = nullptr;
    detail::check(cust_store_restore_rotated(b.c_str(), d.c_str(), backup_key.data(), backup_key.size(), key.data(),
                                             key.size(), &out));
    return detail::take_string(out);
}

inline std::string restore_after_loss(std::string_view backup, std::string_view store_dir, key_view key,
                                      std::optional<std::string_view> checkpoint,
                                      std::optional<std::string_view> receipts,
                                      bool acknowledge_lost_history = false) {
    detail::text b(backup, "backup"), d(store_dir, "store_dir");
    detail::optional_text c(checkpoint, "checkpoint"), r(receipts, "receipts");
    char* out = nullptr;
    detail::check(cust_store_restore_after_loss(b.c_str(), d.c_str(), key.data(), key.size(), c.c_str(), r.c_str(),
                                                acknowledge_lost_history, &out));
    return detail::take_string(out);
}

}  // namespace custodian

#endif  // CUSTODIAN_HPP
