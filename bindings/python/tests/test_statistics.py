"""Statistics from Python, on the data set tests/statistics.rs counts: the
analyst's suppressed category x tier table at k = 5, provinces at k = 2, a
filter, and the refusals (each with its rule)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

import custodian

#: Category x tier counts (tiers A, B, C).
DATA = [("零售", (12, 7, 3)), ("批发", (6, 2, 9)), ("政府", (5, 5, 0))]
ADDRESSES = ["浙江省杭州市西湖区文三路", "浙江宁波海曙区", "北京市朝阳区建国路", "广东省深圳市南山区"]
STEMS = "甲乙丙丁戊己庚辛壬癸"


def name_of(n: int) -> str:
    """A distinct name per customer (names take no digits): 统计甲甲, 统计甲乙, ..."""
    return f"统计{STEMS[n // 10]}{STEMS[n % 10]}"


@pytest.fixture
def population(store: custodian.Store, admin: custodian.Session) -> list[int]:
    """The 49 customers (their ids in the order of ``DATA``) and the analyst."""
    with store.session("admin", "maintenance", mfa=True) as maintenance:
        maintenance.register_principal("analyst", "数据分析")
        maintenance.grant("analyst", "analyst")
    ids: list[int] = []
    for category, per_tier in DATA:
        for tier, count in zip("ABC", per_tier):
            for _ in range(count):
                n = len(ids)
                customer = admin.create(
                    {"name": name_of(n), "category": category, "tier": tier, "address": ADDRESSES[n % len(ADDRESSES)]}
                )
                ids.append(customer.id)
    assert len(ids) == 49
    return ids


@pytest.fixture
def analyst(store: custodian.Store, population: list[int]) -> Iterator[custodian.Session]:
    """A session of the analyst (purpose ``analytics``) over the 49 customers."""
    with store.session("analyst", "analytics") as s:
        yield s


def statistics_calls(admin: custodian.Session) -> int:
    entries: list[dict[str, Any]] = admin.audit(principal="analyst")
    return sum(1 for e in entries if e["action"] == "customer.statistics")


def test_the_cross_tab_suppresses_small_cells_and_what_would_reveal_them(
    analyst: custodian.Session, admin: custodian.Session
) -> None:
    table = analyst.statistics("category", "tier")
    assert isinstance(table, custodian.StatisticsTable)
    assert table == custodian.StatisticsTable(
        rows="category",
        columns="tier",
        threshold=5,
        row_labels=["批发", "政府", "零售"],
        column_labels=["A", "B", "C"],
        cells=[[None, None, None], [None, None, 0], [12, None, None]],
        row_totals=[17, 10, 22],
        column_totals=[23, 14, 12],
        total=49,
        suppressed_primary=2,
        suppressed_secondary=5,
    )
    # Labels and counts only.
    assert "统计" not in repr(table) and "文三路" not in repr(table)
    with pytest.raises(Exception):
        table.total = 0  # type: ignore[misc]  # frozen
    assert statistics_calls(admin) == 1
    # At k = 2 nothing here is suppressed.
    open_table = analyst.statistics("category", "tier", threshold=2)
    assert open_table.cells == [[6, 2, 9], [5, 5, 0], [12, 7, 3]]
    assert (open_table.suppressed_primary, open_table.suppressed_secondary) == (0, 0)


def test_one_dimension_and_a_filter(analyst: custodian.Session) -> None:
    provinces = analyst.statistics("province", threshold=2)
    assert provinces.columns is None and provinces.column_labels == ["count"]
    assert provinces.row_labels == ["北京市", "广东省", "浙江省"]
    # 49 customers over four addresses in turn: 13 杭州 + 12 宁波, 12 北京, 12 深圳.
    assert [row[0] for row in provinces.cells] == [12, 12, 25]
    assert provinces.row_totals == [12, 12, 25] and provinces.total == 49
    retail = analyst.statistics("tier", filter={"category": "零售"}, threshold=2)
    assert retail.row_labels == ["A", "B", "C"] and retail.cells == [[12], [7], [3]]
    assert retail.total == 22
    cities = analyst.statistics("city", filter={"kind": "individual", "tier": "A"}, threshold=2)
    assert cities.total == 23
    # Any dimension the library knows passes through: nobody here has a birth date.
    ages = analyst.statistics("age_band", "tier")
    assert ages.row_labels == ["(none)"] and ages.cells == [[23, 14, 12]] and ages.total == 49


def test_refusals_carry_their_rule(store: custodian.Store, analyst: custodian.Session, admin: custodian.Session) -> None:
    # Refused by the library before anything is counted or audited.
    with pytest.raises(custodian.Invalid) as unknown:
        analyst.statistics("tier", filter={"colour": "red"})
    assert unknown.value.status == custodian.STATUS["INVALID"]
    assert "invalid statistics query JSON" in unknown.value.message and "colour" in unknown.value.message
    assert statistics_calls(admin) == 0
    with pytest.raises(TypeError):
        analyst.statistics("tier", k=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        analyst.statistics("tier", threshold="5")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        analyst.statistics("tier", threshold=-1)
    with pytest.raises(ValueError):
        analyst.statistics("ti\0er")
    assert statistics_calls(admin) == 0

    with pytest.raises(custodian.Invalid) as low:
        analyst.statistics("tier", threshold=1)
    assert low.value.rule == "statistics_threshold" and low.value.status == custodian.STATUS["INVALID_ARGUMENT"]
    with pytest.raises(custodian.Invalid) as twice:
        analyst.statistics("tier", "tier")
    assert twice.value.rule == "statistics_same_dimension"
    with pytest.raises(custodian.Invalid) as colour:
        analyst.statistics("colour")
    assert colour.value.rule == "statistics_dimension"
    with pytest.raises(custodian.Invalid) as columns:
        analyst.statistics("tier", "colour")
    assert columns.value.rule == "statistics_dimension"
    with store.marketing_session("marketer", "sms") as marketer:
        with pytest.raises(custodian.Denied) as denied:
            marketer.statistics("tier")
    assert denied.value.rule == "statistics.marketing"


def test_purchase_totals_by_tier_suppress_rows_of_few_buyers(
    store: custodian.Store, population: list[int], analyst: custodian.Session, admin: custodian.Session
) -> None:
    # Tier A of 零售 is ids[0:12], B ids[12:19], C ids[19:22].
    references = iter(range(1000))

    def pay(customer: int, minor: int) -> None:
        admin.add_transaction(
            customer, reference=f"PT-{next(references)}", currency="CNY", total_minor=minor, method="cash",
            items=[("茶", 1, minor)],
        )

    for customer in population[0:6]:
        pay(customer, 10_000)
    for customer in population[12:17]:
        pay(customer, 2_000)
    pay(population[19], 70_000)  # one tier-C buyer: hidden, and tier B with it
    totals = analyst.purchase_totals("tier", "CNY")
    assert totals == {
        "rows": "tier", "currency": "CNY", "threshold": 5, "row_labels": ["A", "B", "C"],
        "buyers": [6, None, None], "amounts": ["600.00 CNY", None, None],
        "total_buyers": 12, "total_amount": "1400.00 CNY", "suppressed_primary": 2, "suppressed_secondary": 2,
    }
    pay(population[20], 1_000)
    shown = analyst.purchase_totals("tier", "CNY", threshold=2)
    assert shown["buyers"] == [6, 5, 2] and shown["amounts"] == ["600.00 CNY", "100.00 CNY", "710.00 CNY"]
    entries: list[dict[str, Any]] = admin.audit(principal="analyst")
    assert any(e["action"] == "customer.purchase_totals" and not e["customers"] for e in entries)

    with pytest.raises(custodian.Invalid) as currency:
        analyst.purchase_totals("tier", "XXY")
    assert currency.value.rule == "currency_unknown"
    with pytest.raises(custodian.Invalid) as band:
        analyst.purchase_totals("age_band", "CNY")
    assert band.value.rule == "statistics_dimension"
    with pytest.raises(custodian.Invalid) as low:
        analyst.purchase_totals("tier", "CNY", threshold=1)
    assert low.value.rule == "statistics_threshold"
    with store.marketing_session("marketer", "sms") as marketer:
        with pytest.raises(custodian.Denied) as denied:
            marketer.purchase_totals("tier", "CNY")
    assert denied.value.rule == "statistics.marketing"
