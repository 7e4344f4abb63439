"""URLs of the shop example; the callback path is the owner's site's."""
from django.urls import path

from invoices import views

urlpatterns = [
    path("", views.invoice_new, name="invoice_new"),
    path("invoices/<str:token>/", views.invoice_detail, name="invoice"),
    path("invoices/<str:token>/pay-again/", views.invoice_pay_again, name="invoice_pay_again"),
    path("auth/api/momo/callback/", views.momo_callback, name="momo_callback"),
]
