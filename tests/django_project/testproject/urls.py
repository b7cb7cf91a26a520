from testproject import views

try:
    from django.urls import re_path as url
except ImportError:  # Django < 2.0
    from django.conf.urls import url

urlpatterns = [
    url(r'^alpha/$', views.alpha),
    url(r'^beta/$', views.beta),
    url(r'^boom/$', views.boom),
    url(r'^$', views.index),
    url(r'^any/', views.index),
]
