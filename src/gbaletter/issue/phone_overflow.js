// `issue check`'s phone-overflow rule, run in Chromium on the email at phone width (gbaletter/issue/check.py).
// The thing to fix is what reaches furthest past the right edge: text that cannot wrap (a <pre>
// line) or a replaced element (an image). Containers stretched by it are not causes; only when no
// text or image reaches past the edge (a fixed-width table, say) are boxes compared instead.
() => {
  const limit = document.documentElement.clientWidth;
  const replaced = new Set(['IMG', 'VIDEO', 'IFRAME', 'CANVAS', 'SVG', 'INPUT']);
  const reach = (element, boxes) => {
    let right = boxes || replaced.has(element.tagName) ? element.getBoundingClientRect().right : 0;
    for (const node of element.childNodes) {
      if (node.nodeType === Node.TEXT_NODE && node.textContent.trim()) {
        const range = document.createRange();
        range.selectNodeContents(node);
        right = Math.max(right, range.getBoundingClientRect().right);
      }
    }
    return right;
  };
  const elements = [...document.body.querySelectorAll('*')];
  const furthest = (boxes) => {
    const over = elements.filter((e) => reach(e, boxes) > limit + 0.5);
    const causes = over.filter((e) => !over.some((other) => other !== e && e.contains(other)));
    let best = null;
    for (const element of causes) {
      const right = reach(element, boxes);
      if (!best || right > best.right) best = {element, right};
    }
    return best;
  };
  const best = furthest(false) || furthest(true);
  const attrs = {};
  for (const name of ['id', 'class', 'href', 'src']) {
    if (best && best.element.getAttribute(name)) attrs[name] = best.element.getAttribute(name);
  }
  return {
    limit, scrollWidth: document.documentElement.scrollWidth,
    widest: best && {tag: best.element.tagName.toLowerCase(), attrs, right: Math.round(best.right),
                     text: (best.element.textContent || '').trim().slice(0, 30)},
  };
}
