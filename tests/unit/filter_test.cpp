// kstream-filter's pieces: the lookup table (--lookup/--on) and how --select/--set items are named.
#include "kstream-filter/kstream_filter.hpp"
#include "kstream-filter/lookup.hpp"

#include "ks/error.hpp"
#include "ks/log.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace {

using ks::kstream_filter::lookup_table;

struct quiet_log {
    ks::log::level saved = ks::log::current_level();
    quiet_log() { ks::log::set_level(ks::log::level::error); }
    ~quiet_log() { ks::log::set_level(saved); }
};

}  // namespace

TEST_CASE("lookup_table: rows indexed by the join column's text, columns typed like csv2kafka's", "[filter]") {
    ks_test::temp_dir dir;
    const auto path = dir.write("stations.csv",
                                "station_id,code,name,capacity,lat,open\n"
                                "213688169,00501,\"Godard, Victor Hugo\",35,48.865983,true\n"
                                "99,16107,Mairie,,2.50,false\n");
    lookup_table t(path, "station_id");
    CHECK(t.size() == 2);
    CHECK(t.columns() == std::vector<std::string>{"code", "name", "capacity", "lat", "open"});

    const auto* row = t.find("213688169");
    REQUIRE(row);
    CHECK(row->json == std::vector<std::string>{R"("00501")", R"("Godard, Victor Hugo")", "35", "48.865983", "true"});
    CHECK(row->values[0].type == ks::expr::kind::string);  // leading zeros: text
    CHECK(row->values[0].string == "00501");
    CHECK(row->values[2].type == ks::expr::kind::integer);
    CHECK(row->values[2].integer == 35);
    CHECK(row->values[3].type == ks::expr::kind::number);
    CHECK(row->values[3].number == 48.865983);
    CHECK(row->values[4].type == ks::expr::kind::boolean);
    CHECK(row->values[4].boolean);

    const auto* other = t.find("99");
    REQUIRE(other);
    CHECK(other->json[2] == "null");  // an empty cell
    CHECK(other->values[2].is_null());
    CHECK(other->json[3] == "2.50");  // numbers as written
    CHECK(other->values[4].type == ks::expr::kind::boolean);
    CHECK_FALSE(other->values[4].boolean);

    CHECK(t.find("2136881690") == nullptr);
    CHECK(t.find("") == nullptr);
}

TEST_CASE("lookup_table: a repeated key keeps its first row", "[filter]") {
    quiet_log quiet;
    ks_test::temp_dir dir;
    const auto path = dir.write("t.csv", "k,v\na,1\nb,2\na,3\n");
    lookup_table t(path, "k");
    REQUIRE(t.find("a"));
    CHECK(t.find("a")->json[0] == "1");
    CHECK(t.size() == 3);
}

TEST_CASE("lookup_table: a missing file or column, a bad row, an empty table are usage errors", "[filter]") {
    ks_test::temp_dir dir;
    CHECK_THROWS_WITH(lookup_table(dir.child("none.csv"), "k"), "--lookup " + dir.child("none.csv") + ": No such file or directory");
    const auto t = dir.write("t.csv", "k,v\na,1\n");
    CHECK_THROWS_WITH(lookup_table(t, "key"), "--on: no column 'key' in " + t + " (columns: k, v)");
    const auto bad = dir.write("bad.csv", "k,v\na,1\nb\n");
    CHECK_THROWS_WITH(lookup_table(bad, "k"), "--lookup " + bad + ":3: expected 2 fields, found 1");
    const auto empty = dir.write("empty.csv", "k,v\n");
    CHECK_THROWS_WITH(lookup_table(empty, "k"), "--lookup " + empty + ": no rows");
    const auto nothing = dir.write("nothing.csv", "");
    CHECK_THROWS_WITH(lookup_table(nothing, "k"), "--lookup " + nothing + ": no header row");
}

TEST_CASE("split_named: NAME=EXPR, or a field path named by its last step", "[filter]") {
    using ks::expr::split_named;
    using pair = std::pair<std::string, std::string>;
    CHECK(split_named("t=main.temp * 2", "--set") == pair{"t", "main.temp * 2"});
    CHECK(split_named("t = 1", "--set") == pair{"t", "1"});
    CHECK(split_named("`heat index`=1", "--set") == pair{"heat index", "1"});
    CHECK(split_named("main.temp", "--select") == pair{"temp", "main.temp"});
    CHECK(split_named("weather[0].main", "--select") == pair{"main", "weather[0].main"});
    CHECK(split_named("`Day of the week`", "--select") == pair{"Day of the week", "`Day of the week`"});
    CHECK_THROWS_WITH(split_named("a == b", "--set"), "--set: 'a == b' needs a name: write NAME=EXPR");  // a comparison
}

TEST_CASE("split_named: an expression without a name, and a wrong one, are usage errors", "[filter]") {
    using ks::expr::split_named;
    CHECK_THROWS_WITH(split_named("a + 1", "--select"), "--select: 'a + 1' needs a name: write NAME=EXPR");
    CHECK_THROWS_WITH(split_named("x=", "--set"), "--set: 'x=' has no expression after '='");
    CHECK_THROWS_WITH(split_named("", "--select"), "--select: an empty item");
    CHECK_THROWS_AS(split_named("a +", "--select"), ks::usage_error);
}
