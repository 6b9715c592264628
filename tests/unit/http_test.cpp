// lib/http's rules (secrets, Retry-After, ${ENV}, escaping) and api2kafka's setup: how URLs are
// expanded from --param and the environment, and which options are refused.
#include "api2kafka/api2kafka.hpp"

#include "ks/cli.hpp"
#include "ks/error.hpp"
#include "ks/http.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

ks::api2kafka::plan setup(std::vector<std::string> args) {
    ks::api2kafka::options o;
    CLI::App app{"test", "api2kafka"};
    ks::api2kafka::declare(app, o);
    ks::parse_args(app, std::move(args), o.common);
    return ks::api2kafka::setup(o);
}

std::vector<std::string> urls(const ks::api2kafka::plan& p) {
    std::vector<std::string> out;
    for (const auto& t : p.targets) out.push_back(t.url);
    return out;
}

}  // namespace

TEST_CASE("redactor: secret query parameters, headers and given values become ***", "[http]") {
    ks::http::redactor r;
    CHECK(r.learn_url("https://api.x/w?q=Paris&APPID=abc123&units=metric") == "https://api.x/w?q=Paris&APPID=***&units=metric");
    CHECK(r.learn_url("https://api.x/w?token=t0k3n#frag") == "https://api.x/w?token=***#frag");
    CHECK(r.learn_url("https://api.x/w?q=key") == "https://api.x/w?q=key");  // a value named key is no secret
    CHECK(r.learn_url("https://api.x/w?api_key=") == "https://api.x/w?api_key=");
    // What was learnt is replaced anywhere it shows up, e.g. in an error echoing the URL.
    CHECK(r.apply("HTTP 401: invalid key abc123 for t0k3n") == "HTTP 401: invalid key *** for ***");
    r.learn_header("Authorization: Bearer eyJhbGciOi");
    r.learn_header("Accept: application/json");
    CHECK(r.apply("sent Bearer eyJhbGciOi; accept application/json") == "sent ***; accept application/json");
    CHECK(r.apply("token eyJhbGciOi") == "token ***");
    r.add("envsecret");
    CHECK(r.apply("https://h/envsecret/x") == "https://h/***/x");
    r.add("k/ey+1");  // also as it stands percent-encoded in a URL
    CHECK(r.apply("https://h/w?city=k%2Fey%2B1 and k/ey+1") == "https://h/w?city=*** and ***");
    r.add("ab");  // too short to replace safely
    CHECK(r.apply("ab cd") == "ab cd");
    CHECK(ks::http::redactor::secret_header("x-api-key"));
    CHECK_FALSE(ks::http::redactor::secret_header("Accept"));
    CHECK(ks::http::redactor::secret_parameter("access_token"));
    CHECK_FALSE(ks::http::redactor::secret_parameter("city"));
}

TEST_CASE("retry_after_seconds: delta seconds or an HTTP date", "[http]") {
    const auto now = std::chrono::system_clock::from_time_t(1445412480);  // Wed, 21 Oct 2015 07:28:00 GMT
    CHECK(ks::http::retry_after_seconds("120", now) == Approx(120));
    CHECK(ks::http::retry_after_seconds(" 0 ", now) == Approx(0));
    CHECK(ks::http::retry_after_seconds("Wed, 21 Oct 2015 07:28:30 GMT", now) == Approx(30));
    CHECK(ks::http::retry_after_seconds("Wed, 21 Oct 2015 07:00:00 GMT", now) == Approx(0));  // past: now
    CHECK_FALSE(ks::http::retry_after_seconds("", now));
    CHECK_FALSE(ks::http::retry_after_seconds("soon", now));
    CHECK(*ks::http::retry_after_seconds("99999999999999", now) == Approx(1e9));  // no overflow
}

TEST_CASE("expand_env and escape", "[http]") {
    ::setenv("KS_TEST_KEY", "k-1", 1);
    ::unsetenv("KS_TEST_UNSET");
    std::vector<std::string> secrets;
    CHECK(ks::http::expand_env("a=${KS_TEST_KEY}&b=${KS_TEST_KEY}", "URL", secrets) == "a=k-1&b=k-1");
    CHECK(secrets == std::vector<std::string>{"k-1", "k-1"});
    CHECK(ks::http::expand_env("no variables {city} $x", "URL", secrets) == "no variables {city} $x");
    CHECK_THROWS_WITH(ks::http::expand_env("${KS_TEST_UNSET}", "URL", secrets), "URL: the environment variable KS_TEST_UNSET is not set");
    CHECK_THROWS_AS(ks::http::expand_env("${KS_TEST_KEY", "URL", secrets), ks::usage_error);
    CHECK_THROWS_AS(ks::http::expand_env("${1A}", "URL", secrets), ks::usage_error);
    CHECK(ks::http::escape("New York/é&=") == "New%20York%2F%C3%A9%26%3D");
    CHECK(ks::http::escape("Paris-1_a.b~") == "Paris-1_a.b~");
}

TEST_CASE("api2kafka setup: one URL per combination of the --param values it names", "[api2kafka]") {
    auto p = setup({"http://h/w?q={city}&d={day}", "http://h/static", "--param", "city=Paris,New York", "--param", "day=1,2"});
    CHECK(urls(p) == std::vector<std::string>{"http://h/w?q=Paris&d=1", "http://h/w?q=Paris&d=2",
                                              "http://h/w?q=New%20York&d=1", "http://h/w?q=New%20York&d=2",
                                              "http://h/static"});
    CHECK(p.interval_ms == 60000);
    CHECK(p.records_path.empty());

    ::setenv("KS_TEST_APPID", "zz-secret-99", 1);
    p = setup({"https://h/w?q={city}&appid=${KS_TEST_APPID}", "--param", "city=Rome", "--records", "data.list.0",
               "--interval", "1500ms", "--header", "X-Api-Key: ${KS_TEST_APPID}"});
    REQUIRE(p.targets.size() == 1);
    CHECK(p.targets[0].url == "https://h/w?q=Rome&appid=zz-secret-99");
    CHECK(p.targets[0].shown == "https://h/w?q=Rome&appid=***");
    CHECK(p.headers == std::vector<std::string>{"X-Api-Key: zz-secret-99"});
    CHECK(p.records_path == std::vector<std::string>{"data", "list", "0"});
    CHECK(p.interval_ms == 1500);
    // A secret from the environment is hidden even where its parameter's name says nothing.
    p = setup({"https://h/w?city=${KS_TEST_APPID}"});
    CHECK(p.targets[0].shown == "https://h/w?city=***");
}

TEST_CASE("api2kafka setup: refused options", "[api2kafka]") {
    CHECK_THROWS_WITH(setup({"http://h/w?q={city}"}), Catch::Contains("--param city=v1,v2"));
    CHECK_THROWS_WITH(setup({"http://h/w", "--param", "city=Paris"}), "--param city: no URL has {city}");
    CHECK_THROWS_WITH(setup({"http://h/{a}", "--param", "a=1", "--param", "a=2"}), "--param: 'a' twice");
    CHECK_THROWS_WITH(setup({"ftp://h/w"}), Catch::Contains("only http:// and https://"));
    ::setenv("KS_TEST_FTP_KEY", "ftp-secret-77", 1);  // a secret in a refused URL is not printed
    CHECK_THROWS_WITH(setup({"ftp://h/w?k=${KS_TEST_FTP_KEY}"}), "URL 'ftp://h/w?k=***': only http:// and https:// URLs are polled");
    CHECK_THROWS_AS(setup({"http://h/w", "--interval", "0"}), ks::usage_error);
    CHECK_THROWS_AS(setup({"http://h/w", "--records", "data..x"}), ks::usage_error);
    CHECK_THROWS_AS(setup({"http://h/w", "--header", "NoColon"}), ks::usage_error);
    CHECK_THROWS_AS(setup({"http://h/w", "--where", "a >"}), ks::usage_error);
    CHECK_THROWS_AS(setup({"http://h/w", "--add", "1 + 2"}), ks::usage_error);  // an --add needs a name (a bare path names itself)
    CHECK_THROWS_AS(setup({"http://h/w", "--retries", "-1"}), CLI::ParseError);
    CHECK_THROWS_AS(setup({"http://h/w", "--timeout", "0"}), CLI::ParseError);
}
