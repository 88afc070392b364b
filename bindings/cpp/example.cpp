#include "custodian.hpp"

#include <array>
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
    const std::string dir = argc > 1 ? argv[1] : ".";
    const std::array<uint8_t, 32> key{};  // in production: from your secrets manager
    custodian::store store = custodian::store::create(dir + "/cpp-demo", key);
    store.bootstrap_admin("admin", "Administrator");
    int64_t id = 0;
    {
        custodian::session admin = store.open_session("admin", "maintenance", true);
        admin.register_principal("clerk", "李娜");
        admin.grant("clerk", "customer_service");
        custodian::input values;
        values.set(CUST_FIELD_NAME, "王五").set(CUST_FIELD_MOBILE, "13812345678");
        values.set(CUST_FIELD_ID_NUMBER, "110101199003078515");
        id = admin.create(values).id();
    }
    custodian::session clerk = store.open_session("clerk", "service");
    custodian::customer seen = clerk.get(id);
    std::printf("%s %s\n", seen.text(CUST_FIELD_NAME).c_str(), seen.text(CUST_FIELD_ID_NUMBER).c_str());
    try {
        clerk.erase(id, "not the clerk's call");
    } catch (const custodian::error& refused) {
        std::printf("refused by rule %s\n", refused.rule().c_str());
    }
    for (custodian::customer_ref each : clerk.list(CUST_FIELD_NAME)) {
        std::printf("%lld: %s\n", static_cast<long long>(each.id()), each.text(CUST_FIELD_MOBILE).c_str());
    }
    std::printf("%s\n", store.backup(dir + "/cpp-demo.cbk").c_str());
}
