"""Reports for editors: one issue (`issue report`) and the list across issues (`report`).

Above tracking, delivery and subscribers; reads only. `numbers` computes, `terminal` and `page`
present (rich tables; an HTML page with matplotlib charts as inline SVG).
"""
