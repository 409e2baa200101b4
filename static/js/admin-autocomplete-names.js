'use strict';
// The admin's search-as-you-type boxes (select2, autocomplete_fields) get their
// field's label as their name (issue 14, accessibility). select2 names its
// combobox by the element that shows the choice; with nothing chosen that
// element is empty, and a screen reader announces an unnamed box (axe:
// aria-input-field-name, WCAG 4.1.2). Loaded after admin/js/autocomplete.js
// (web/pump_admin.py, NamedAutocompleteSelect.media), so the boxes exist.
{
    const $ = django.jQuery;

    function name(select) {
        const label = select.id && document.querySelector('label[for="' + select.id + '"]');
        const container = select.nextElementSibling;
        if (!label || !container || !container.classList.contains('select2')) {
            return;
        }
        if (!label.id) {
            label.id = select.id + '_label';
        }
        const box = container.querySelector('.select2-selection');
        const shown = container.querySelector('.select2-selection__rendered');
        if (box && shown) {
            box.setAttribute('aria-labelledby', label.id + ' ' + shown.id);
        }
        if (shown) {
            shown.setAttribute('aria-label', label.textContent.replace(/:\s*$/, '').trim());
        }
    }

    function nameAll(root) {
        root.querySelectorAll('select.admin-autocomplete').forEach(name);
    }

    $(function() {
        nameAll(document);
    });
    document.addEventListener('formset:added', (event) => {
        nameAll(event.target);
    });
}
