// `issue check`'s contrast and text-size rules, run in Chromium on the email in one colour scheme
// (gbaletter/issue/accessibility.py decides what passes). For every element that shows text of its
// own, what the reader sees: its text colour and the colour under it, both as opaque [r, g, b]
// (translucent layers composed the way the browser paints them), its font size and weight.
// The colour under the text is the first opaque background up the tree; where nothing is opaque,
// the canvas (white in light mode, the browser's dark grey in dark mode). Text over a background
// image cannot be measured from styles and is reported with `overImage` instead.
() => {
  const rgba = (css) => {
    const match = /rgba?\(([^)]*)\)/.exec(css || '');
    if (!match) return null;
    const parts = match[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
  };
  const over = (top, under) => top.slice(0, 3).map((value, i) => value * top[3] + under[i] * (1 - top[3]));
  const probe = document.createElement('div');
  probe.style.backgroundColor = 'Canvas';
  document.body.appendChild(probe);
  const canvas = rgba(getComputedStyle(probe).backgroundColor);
  probe.remove();

  const background = (element) => {
    const layers = [];
    let overImage = false;
    for (let node = element; node && node.nodeType === Node.ELEMENT_NODE; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.backgroundImage && style.backgroundImage !== 'none') overImage = true;
      const colour = rgba(style.backgroundColor);
      if (colour && colour[3] > 0) {
        layers.push(colour);
        if (colour[3] >= 1) break;
      }
    }
    let painted = canvas.slice(0, 3);
    for (const layer of layers.reverse()) painted = over(layer, painted);
    return {colour: painted, overImage};
  };
  const opacity = (element) => {
    let product = 1;
    for (let node = element; node && node.nodeType === Node.ELEMENT_NODE; node = node.parentElement) {
      product *= Number(getComputedStyle(node).opacity);
    }
    return product;
  };

  const seen = new Set();
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let text = walker.nextNode(); text; text = walker.nextNode()) {
    const element = text.parentElement;
    if (!element || seen.has(element) || !text.textContent.trim()) continue;
    seen.add(element);
    const style = getComputedStyle(element);
    const box = element.getBoundingClientRect();
    const alpha = opacity(element);
    if (style.visibility !== 'visible' || box.width < 1 || box.height < 1 || alpha === 0) continue;
    const colour = rgba(style.color);
    if (!colour) continue;  // a colour Chromium does not give as rgb(): nothing to compare
    const under = background(element);
    const attrs = {};
    for (const name of ['id', 'class', 'href', 'src']) {
      if (element.getAttribute(name)) attrs[name] = element.getAttribute(name);
    }
    found.push({
      tag: element.tagName.toLowerCase(), attrs,
      text: element.textContent.trim().replace(/\s+/g, ' ').slice(0, 40),
      colour: over([...colour.slice(0, 3), colour[3] * alpha], under.colour).map(Math.round),
      background: under.colour.map(Math.round), overImage: under.overImage,
      size: parseFloat(style.fontSize), weight: Number(style.fontWeight) || 400,
    });
  }
  return found;
}
