from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest

from mailer.articles.files import read_seed_articles
from mailer.config import ROOT, load_settings
from mailer.errors import ConfigError
from mailer.render import inline_css, make_environment
from mailer.services import make_renderer
from mailer.share.render import ShareRenderer
from mailer.share.request import ShareRequest, validate_share

ARTICLE = read_seed_articles(ROOT / "seeds")[0]


def share(**changes: str) -> ShareRequest:
    data = {"article_id": ARTICLE.id, "sender_name": "Aysel Məmmədova",
            "sender_email": "aysel@example.com", "friend_name": "Vüqar Əliyev",
            "friend_email": "vuqar@example.org", "message": "Read <b>this</b> & that.\nToday."}
    data.update(changes)
    return validate_share(data)


@pytest.fixture(params=["css_inline", "premailer"])
def renderer(request: pytest.FixtureRequest) -> ShareRenderer:
    return make_renderer(load_settings(inliner=request.param))


def outside_media_rules(css: str) -> str:
    """The text of `css` outside its @media blocks (braces counted)."""
    out, depth, index = [], 0, 0
    while index < len(css):
        if depth == 0 and css.startswith("@media", index):
            index = css.index("{", index)
            depth = 1
        elif depth and css[index] == "{":
            depth += 1
        elif depth and css[index] == "}":
            depth -= 1
        elif not depth:
            out.append(css[index])
        index += 1
    return "".join(out)


def test_styles_are_inlined_and_only_media_rules_stay_in_a_style_tag(
        renderer: ShareRenderer) -> None:
    html = renderer.render(ARTICLE, share()).html
    blocks = re.findall(r"<style[^>]*>(.*?)</style>", html, re.DOTALL)
    assert len(blocks) == 1
    assert "prefers-color-scheme: dark" in blocks[0] and "max-width: 480px" in blocks[0]
    assert outside_media_rules(blocks[0]).strip() == "", "everything else is inlined"
    title_link = re.search(r'<h1 class="title"[^>]*><a href="([^"]+)" style="([^"]+)"', html)
    assert title_link is not None
    assert title_link.group(1) == ARTICLE.url
    assert "color:#0b3d6e" in title_link.group(2).replace(" ", "")
    body = re.search(r"<body[^>]*style=\"([^\"]+)\"", html) or \
        re.search(r"<body[^>]*style='([^']+)'", html)
    assert body is not None and "background-color" in body.group(1)


def test_content_of_both_parts(renderer: ShareRenderer) -> None:
    out = renderer.render(ARTICLE, share())
    assert out.subject == f"Recommended to you: {ARTICLE.title}"
    for part in (out.html, out.text):
        assert ARTICLE.title in part
        assert ARTICLE.url in part
        assert "Vüqar Əliyev" in part
        assert "Aysel Məmmədova" in part
        assert "28 October 2020, 18:15" in part
    assert "Read &lt;b&gt;this&lt;/b&gt; &amp; that.<br>\nToday." in out.html
    assert "<b>this</b>" not in out.html
    assert "> Read <b>this</b> & that.\n> Today." in out.text


def test_names_are_escaped_in_html(renderer: ShareRenderer) -> None:
    out = renderer.render(ARTICLE, share(sender_name='Tom & "Jerry"'))
    assert "Tom &amp; &quot;Jerry&quot;" in out.html
    assert 'Tom & "Jerry"' in out.text


def test_slot_markers_in_input_are_not_expanded(renderer: ShareRenderer) -> None:
    out = renderer.render(ARTICLE, share(sender_name="%%slot:note%%", message="secret"))
    assert "%%slot:note%%" in out.text
    assert out.text.count("secret") == 1


def test_no_note_means_no_note_box(renderer: ShareRenderer) -> None:
    out = renderer.render(ARTICLE, share(message=""))
    assert 'class="note"' not in out.html
    assert "\n>" not in out.text


def test_the_articles_image_leads_as_in_the_digest(renderer: ShareRenderer) -> None:
    pictured = ARTICLE.model_copy(update={"image_url": "https://www.today.az/photo.jpg"})
    out = renderer.render(pictured, share())
    assert 'src="https://www.today.az/photo.jpg"' in out.html
    assert out.html.index("photo.jpg") < out.html.index('class="title"')
    plain = ARTICLE.model_copy(update={"image_url": None})
    assert "<img" not in renderer.render(plain, share()).html.split('class="content"')[1]


def test_article_part_is_rendered_once_per_variant(renderer: ShareRenderer) -> None:
    first = renderer.render(ARTICLE, share(friend_name="One"))
    renderer.render(ARTICLE, share(friend_name="Two", message="Another note"))
    assert renderer.compilations == 1
    renderer.render(ARTICLE, share(message=""))
    assert renderer.compilations == 2
    again = renderer.render_uncached(ARTICLE, share(friend_name="One"))

    def without_sealed_link(text: str) -> str:  # sealed anew each time (tokens.py)
        return re.sub(r"/refuse-shares/[\w=-]+", "/refuse-shares/…", text)

    assert first.subject == again.subject
    assert without_sealed_link(first.html) == without_sealed_link(again.html)
    assert without_sealed_link(first.text) == without_sealed_link(again.text)
    changed = ARTICLE.model_copy(update={"title": "A corrected title"})
    assert "A corrected title" in renderer.render(changed, share()).html


def test_both_inliners_give_the_same_styles() -> None:
    css = "p.x { color: red; } a { font-weight: bold; }"
    doc = '<html><body><p class="x">Hi <a href="https://e.x">there</a></p></body></html>'
    for inliner in ("css_inline", "premailer"):
        out = inline_css(doc, css, inliner)  # type: ignore[arg-type]
        assert re.search(r'<p class="x" style="color:\s?red;?"', out), out
        assert re.search(r'<a href="https://e.x" style="font-weight:\s?bold;?"', out), out


def test_undefined_template_variables_fail_loudly(tmp_path: Path) -> None:
    (tmp_path / "t.html").write_text("Hello {{ nobody }}", encoding="utf-8")
    env = make_environment(tmp_path, load_settings().zone)
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("t.html").render()


def test_html_templates_autoescape(tmp_path: Path) -> None:
    (tmp_path / "t.html").write_text("{{ value }}", encoding="utf-8")
    (tmp_path / "t.txt").write_text("{{ value }}", encoding="utf-8")
    env = make_environment(tmp_path, load_settings().zone)
    assert env.get_template("t.html").render(value="<i>") == "&lt;i&gt;"
    assert env.get_template("t.txt").render(value="<i>") == "<i>"


def test_share_email_is_fluid_with_a_fixed_width_only_for_outlook(
        renderer: ShareRenderer) -> None:
    html = renderer.render(ARTICLE, share()).html
    container = re.search(r'<table[^>]*class="container"[^>]*>', html)
    assert container is not None
    assert 'width="100%"' in container.group(0)
    assert "max-width:600px" in container.group(0).replace(" ", "")
    fixed = re.findall(r'<table[^>]*width="600"', html)
    assert fixed and all(html.rfind("<!--[if mso]>", 0, html.index(f)) >
                         html.rfind("<![endif]-->", 0, html.index(f)) for f in fixed), \
        "the 600 px table exists only inside Outlook's conditional comment"


def test_no_visible_text_is_set_under_13px(renderer: ShareRenderer) -> None:
    html = renderer.render(ARTICLE, share()).html
    body = html[html.index("</div>", html.index('class="preheader"')):]  # hidden preheader
    sizes = [float(s) for s in re.findall(r"font-size:\s*([\d.]+)px", body)]
    assert sizes and min(sizes) >= 13
    footer = re.search(r'class="footer"[^>]*style="([^"]+)"', body)
    assert footer is not None and "font-size:14px" in footer.group(1).replace(" ", "")


def test_button_colour_is_on_the_cell_for_outlook(renderer: ShareRenderer) -> None:
    html = renderer.render(ARTICLE, share()).html
    cell = re.search(r'<td[^>]*class="button-cell"[^>]*>\s*<a[^>]*href="([^"]+)"', html)
    assert cell is not None and cell.group(1) == ARTICLE.url
    assert 'bgcolor="#0b3d6e"' in cell.group(0)


def test_postal_address_in_both_parts_when_set() -> None:
    settings = load_settings(postal_address="28 May Street 12, Baku AZ1000, Azerbaijan")
    out = make_renderer(settings).render(ARTICLE, share())
    assert "28 May Street 12, Baku AZ1000, Azerbaijan" in out.html
    assert "28 May Street 12, Baku AZ1000, Azerbaijan" in out.text
    plain = make_renderer(load_settings()).render(ARTICLE, share())
    assert "AZ1000" not in plain.html


def test_a_logo_setting_puts_the_logo_in_the_masthead() -> None:
    logo = "https://www.today.az/logo.png"
    out = make_renderer(load_settings(logo_url=logo)).render(ARTICLE, share())
    masthead = out.html.split('class="masthead"')[1].split("</td>")[0]
    assert f'src="{logo}"' in masthead and 'alt="TODAY.AZ"' in masthead
    plain = make_renderer(load_settings()).render(ARTICLE, share()).html
    assert "<img" not in plain.split('class="masthead"')[1].split("</td>")[0]
    with pytest.raises(ConfigError, match=r"MAILER_LOGO_URL"):
        load_settings(logo_url="javascript:alert(1)")
