/*
 * Unit: tmbus-web's html module, the one place that turns text from the
 * bus into HTML. Every character that could open markup or end an
 * attribute comes out as an entity, control characters as U+FFFD, UTF-8
 * untouched; amounts and coverage bars read as a person expects; a page
 * past its limit fails rather than being served cut.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "html.h"

static void test_text_escapes(void **state)
{
    struct html h;

    (void)state;
    html_init(&h);
    html_text(&h, "<script>alert('x')</script> & \"q\"\x01\x7f\tÜ");
    assert_false(h.is_failed);
    assert_string_equal(h.buf, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; "
                               "&quot;q&quot;\xef\xbf\xbd\xef\xbf\xbd\tÜ");
    html_free(&h);
    html_init(&h);
    html_text(&h, NULL);
    html_text(&h, "");
    html_raw(&h, "<b>");
    assert_string_equal(h.buf, "<b>");
    html_free(&h);
}

static void test_eur(void **state)
{
    struct html h;

    (void)state;
    html_init(&h);
    html_eur(&h, 0);
    html_raw(&h, " ");
    html_eur(&h, 5);
    html_raw(&h, " ");
    html_eur(&h, 250050);
    html_raw(&h, " ");
    html_eur(&h, 123456789012);
    assert_string_equal(h.buf, "0.00 0.05 2,500.50 1,234,567,890.12");
    html_free(&h);
}

static void test_coverage(void **state)
{
    struct html h;

    (void)state;
    html_init(&h);
    html_coverage(&h, 4, 1, 10);
    assert_non_null(strstr(h.buf, "40% accepted, 10% delivered"));
    assert_non_null(strstr(h.buf, "40% covered"));
    html_free(&h);
    html_init(&h);
    html_coverage(&h, 30, 0, 10);
    assert_non_null(strstr(h.buf, "100% covered"));
    html_free(&h);
    html_init(&h);
    html_coverage(&h, 3, 0, 0);
    assert_non_null(strstr(h.buf, "0% covered"));
    html_free(&h);
}

static void test_search(void **state)
{
    (void)state;
    assert_true(html_contains_folded("Spare Routers", "ROUTERS"));
    assert_true(html_contains_folded("anything", ""));
    assert_false(html_contains_folded("Field radios", "routers"));
    assert_false(html_contains_folded("ab", "abc"));
}

static void test_limit(void **state)
{
    struct html h;
    char *big = malloc(HTML_MAX / 2 + 1);

    (void)state;
    assert_non_null(big);
    memset(big, 'a', HTML_MAX / 2);
    big[HTML_MAX / 2] = '\0';
    html_init(&h);
    html_raw(&h, big);
    assert_false(h.is_failed);
    html_raw(&h, big);
    assert_true(h.is_failed);
    html_raw(&h, "x");
    assert_true(h.is_failed);
    html_free(&h);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_escapes), cmocka_unit_test(test_eur),
        cmocka_unit_test(test_coverage),     cmocka_unit_test(test_search),
        cmocka_unit_test(test_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
